"""Quantization-aware training wrapping that works for every edgecv model family.

tfmot 0.8.1's default 8-bit registry already covers Conv2D/DepthwiseConv2D (+BN
folding), Conv2DTranspose, Dense, ReLU, LeakyReLU, Activation (sigmoid, swish,
softmax...), Softmax, Add, Concatenate, UpSampling2D, pooling, and passes
Reshape/Dropout/MaxPooling2D through. What it lacks, and edgecv models use, gets
a QuantizeConfig here:

- Multiply (squeeze-excite gate): quantize the output, like tfmot does for Add,
  so TFLite gets an int8 MUL with a known output range.
- BatchNormalization that does not follow a conv (nothing to fold into): output
  quantized; TFLite lowers it to int8 MUL/ADD.
- UnitNormalization (embedding head): nothing quantized; it becomes TFLite's
  L2_NORMALIZATION, whose int8 output has a fixed scale (1/128, zero point 0), and a
  learnt range there would only add a requantize.

This module imports TensorFlow and tfmot: import it only when QAT is wanted.
"""
from __future__ import annotations


from edgecv.errors import ModelError

try:
    import tensorflow_model_optimization as tfmot
except ImportError as exc:  # pragma: no cover - tfmot is a declared dependency
    raise ModelError("QAT needs tensorflow-model-optimization: pip install "
                     "'tensorflow-model-optimization>=0.8,<0.9'") from exc
import tf_keras as keras

_quantizers = tfmot.quantization.keras.quantizers


class OutputQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Quantize only a layer's output (8-bit, asymmetric, moving-average range).

    For weightless layers whose output TFLite must know a scale for (Multiply,
    standalone BatchNormalization).
    """

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [_quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                   narrow_range=False)]

    def get_config(self):
        return {}


class FixedOutputQuantizeConfig(OutputQuantizeConfig):
    """Quantize nothing: for layers whose TFLite int8 kernel fixes its own output scale."""

    def get_output_quantizers(self, layer):
        return []


# Layer classes tfmot's default registry does not handle, and the config edgecv gives them.
CUSTOM_CONFIGS = {
    keras.layers.Multiply: OutputQuantizeConfig,
    keras.layers.UnitNormalization: FixedOutputQuantizeConfig,
}

# Conv-like layers tfmot folds a following BatchNormalization into.
_FOLDS_BN = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def _custom_objects() -> dict:
    return {"OutputQuantizeConfig": OutputQuantizeConfig,
            "FixedOutputQuantizeConfig": FixedOutputQuantizeConfig}


def quantize_scope():
    """Context manager for loading saved QAT models (`keras.models.load_model`)."""
    return tfmot.quantization.keras.quantize_scope(_custom_objects())


def load_keras_model(path, *, error: type = ModelError, what: str = "Keras model"):
    """Load a .keras/.h5 model, QAT-wrapped ones included, without compiling it. Any
    failure raises `error` (the caller's package error) with a one-line message."""
    from pathlib import Path

    path = Path(path)
    try:
        with quantize_scope():
            return keras.models.load_model(path, compile=False)
    except Exception as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        hint = ""
        if "quantize" in first and path.suffix == ".keras":
            # tfmot's QuantizeLayer variables do not round-trip through the .keras
            # format in tf_keras 2.21 (they do through .h5).
            hint = "; QAT models saved as .keras do not reload, save them as .h5"
        if len(first) > 160:
            first = first[:157] + "..."
        raise error(f"{path}: cannot load {what} ({first}){hint}") from None


def _unfoldable_batch_norms(model) -> set[str]:
    """Names of BatchNormalization layers not fed directly by a conv tfmot can fold into."""
    names = set()
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        inbound = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else []
        inbound = inbound if isinstance(inbound, list) else [inbound]
        if not (len(inbound) == 1 and isinstance(inbound[0], _FOLDS_BN)
                and type(inbound[0]) is not keras.layers.Conv2DTranspose):
            names.add(layer.name)
    return names


def quantize(model, *, preserve_sparsity: bool = False):
    """Return a tfmot QAT copy of a functional edgecv model (weights copied).

    With `preserve_sparsity` (PQAT after a prune stage) tfmot's prune-preserving
    scheme masks the kernels of the layers it knows (Conv2D, Dense); the others it
    refuses outright (Conv2DTranspose in U-Net and Tiny-YOLO's upsampling heads), so
    they get the default 8-bit config here, and the stage's keep-zeros callback
    (edgecv.optimize.pqat) keeps their pruned weights at zero instead.

    Raises ModelError for nested models or layers no config exists for,
    naming the layer.
    """
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    unfoldable_bn = _unfoldable_batch_norms(model)
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise ModelError(f"quantize: layer {layer.name!r} is a nested model; "
                             "QAT needs a flat functional model")
    scheme = tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()
    dense_registry = scheme.get_quantize_registry()
    if preserve_sparsity:
        scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        sparse_registry = scheme.get_quantize_registry()

    def clone(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.InputLayer):
            return fresh
        config_class = CUSTOM_CONFIGS.get(type(layer))
        if layer.name in unfoldable_bn:
            config_class = OutputQuantizeConfig
        if config_class is not None:
            return annotate(fresh, quantize_config=config_class())
        # `supports` looks at trainable weights: ask about the built original, not the clone.
        if preserve_sparsity and not sparse_registry.supports(layer) and dense_registry.supports(layer):
            return annotate(fresh, quantize_config=dense_registry.get_quantize_config(layer))
        return annotate(fresh)

    annotated = keras.models.clone_model(model, clone_function=clone)
    annotated.set_weights(model.get_weights())
    with quantize_scope():
        try:
            return tfmot.quantization.keras.quantize_apply(annotated, scheme)
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ModelError(f"quantize: model {model.name!r} cannot be QAT-wrapped: {first}") from None
