"""The standard TFLite Model Metadata ("TFLITE_METADATA" entry, ModelMetadata flatbuffer,
file identifier "M001") that MediaPipe Tasks and the TFLite Task Library read, with its
associated files (labels.txt) packed into the model as an uncompressed zip after the
flatbuffer.

- `schema.py`: the tables of metadata_schema.fbs, field by field in slot order;
- `codec.py`: writes and reads those tables with the `flatbuffers` package (no
  generated bindings: tflite-support is archived and MediaPipe's writers are broken);
- `describe.py`: what one exported file says about itself (inputs from the file and
  edgecv's metadata, outputs from the task's `app_outputs` hook, matched by name);
- `embed.py`: puts the entry and the zip into the model bytes, reads them back.
"""
