"""Sparsity-preserving QAT (PQAT) after a prune stage: which pruned kernels tfmot's
prune-preserving scheme leaves without a mask, and a callback that keeps their zeros.
The wrapping itself is `edgecv.optimize.qat.quantize(model, preserve_sparsity=True)`.
"""
from __future__ import annotations


def unmasked_pruned_kernels(qat_model, pruned_layers: list[str]) -> list:
    """Kernel variables of pruned layers that the PQAT scheme left without a sparsity
    mask (tfmot gives e.g. a Conv2D followed directly by ReLU a NoOpQuantizeConfig,
    so nothing keeps its zeros at zero)."""
    wanted = set(pruned_layers)
    kernels = []
    for wrapper in qat_model.layers:
        inner = getattr(wrapper, "layer", None)
        if inner is None or inner.name not in wanted:
            continue
        masked = {id(weight) for weight, _, qvars in getattr(wrapper, "_weight_vars", []) if "sparsity_mask" in qvars}
        for variable in wrapper.trainable_weights:
            if variable.name.endswith(("kernel:0", "depthwise_kernel:0")) and id(variable) not in masked:
                kernels.append(variable)
    return kernels


def keep_zeros_callback(kernels: list):
    """Re-zero the pruned weights of `kernels` after every batch (a safety net for
    layers the PQAT scheme does not mask; the masks are taken at train start)."""
    import tensorflow as tf
    import tf_keras as keras

    class KeepZeros(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.masks = [tf.cast(tf.not_equal(k, 0), k.dtype) for k in kernels]

        def on_train_batch_end(self, batch, logs=None):
            for kernel, mask in zip(kernels, self.masks):
                kernel.assign(kernel * mask)

    return KeepZeros()
