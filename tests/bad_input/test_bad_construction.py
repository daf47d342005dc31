"""Bad arguments to layer constructors: each row names the layer call, the exception type and
a fragment of the message; the model the layer was meant for is left unchanged."""
import pytest

from gpuseq import layers as L
from _bad_input_harness import expect_rejected, model  # noqa: F401  (fixture)

V, T = ValueError, TypeError

CASES = [
    # Dense
    ("dense-negative-units", lambda: L.Dense(-1), V, "units=-1"),
    ("dense-zero-units", lambda: L.Dense(0), V, "units=0"),
    ("dense-float-units", lambda: L.Dense(2.5), V, "units=2.5"),
    ("dense-str-units", lambda: L.Dense("8"), V, "units='8'"),
    ("dense-none-units", lambda: L.Dense(None), T, "units"),
    ("dense-bad-activation", lambda: L.Dense(2, activation="relux"), V, "relux"),
    ("dense-activation-int", lambda: L.Dense(2, activation=3), V, "activation"),
    ("dense-bad-initializer", lambda: L.Dense(2, kernel_initializer="nope"), V, "nope"),
    ("dense-bad-regularizer", lambda: L.Dense(2, kernel_regularizer="l3"), V, "l3"),
    ("dense-bad-constraint", lambda: L.Dense(2, kernel_constraint="tight"), V, "tight"),
    ("dense-unknown-kwarg", lambda: L.Dense(2, unitz=3), T, "unitz"),
    ("dense-input-shape-int", lambda: L.Dense(2, input_shape=3), T, "input_shape=(3,)"),
    ("dense-input-shape-negative", lambda: L.Dense(2, input_shape=(-3,)), V, "positive"),
    ("dense-input-shape-str", lambda: L.Dense(2, input_shape="3"), T, "input_shape='3'"),
    ("dense-batch-input-shape-int", lambda: L.Dense(2, batch_input_shape=4), T,
     "batch_input_shape=(4,)"),
    ("dense-input-dim-zero", lambda: L.Dense(2, input_dim=0), V, "input_dim=0"),
    ("dense-input-dim-float", lambda: L.Dense(2, input_dim=3.0), V, "input_dim=3.0"),
    ("dense-batch-size-zero", lambda: L.Dense(2, input_shape=(3,), batch_size=0), V,
     "batch_size=0"),
    ("dense-empty-name", lambda: L.Dense(2, name=""), V, "name=''"),
    ("dense-name-int", lambda: L.Dense(2, name=5), V, "name=5"),
    # Activation and advanced activations
    ("activation-unknown", lambda: L.Activation("sigmoidd"), V, "sigmoidd"),
    ("activation-none-type", lambda: L.Activation(4.5), V, "4.5"),
    ("leakyrelu-negative-alpha", lambda: L.LeakyReLU(alpha=-0.1), V, "alpha=-0.1"),
    ("leakyrelu-str-alpha", lambda: L.LeakyReLU(alpha="x"), T, "alpha='x'"),
    ("elu-str-alpha", lambda: L.ELU(alpha="big"), T, "alpha='big'"),
    ("thresholded-negative-theta", lambda: L.ThresholdedReLU(theta=-1.0), V, "theta=-1.0"),
    ("relu-negative-max", lambda: L.ReLU(max_value=-1.0), V, "max_value=-1.0"),
    ("relu-negative-slope", lambda: L.ReLU(negative_slope=-0.5), V, "negative_slope=-0.5"),
    ("softmax-axis-str", lambda: L.Softmax(axis="last"), T, "axis='last'"),
    ("prelu-bad-init", lambda: L.PReLU(alpha_initializer="nope"), V, "nope"),
    # Dropout family and noise
    ("dropout-rate-one", lambda: L.Dropout(1.0), V, "rate=1.0"),
    ("dropout-rate-negative", lambda: L.Dropout(-0.1), V, "rate=-0.1"),
    ("dropout-rate-above-one", lambda: L.Dropout(1.5), V, "rate=1.5"),
    ("dropout-rate-str", lambda: L.Dropout("0.5"), V, "rate='0.5'"),
    ("dropout-rate-none", lambda: L.Dropout(None), T, "rate"),
    ("spatialdropout1d-rate", lambda: L.SpatialDropout1D(2.0), V, "rate=2.0"),
    ("spatialdropout2d-rate", lambda: L.SpatialDropout2D(-1.0), V, "rate=-1.0"),
    ("spatialdropout2d-format", lambda: L.SpatialDropout2D(0.5, data_format="nhwc"), V, "nhwc"),
    ("gaussiandropout-rate", lambda: L.GaussianDropout(1.0), V, "rate=1.0"),
    ("alphadropout-rate", lambda: L.AlphaDropout(-0.5), V, "rate=-0.5"),
    ("gaussiannoise-negative", lambda: L.GaussianNoise(-1.0), V, "stddev=-1.0"),
    ("gaussiannoise-str", lambda: L.GaussianNoise("a"), V, "stddev='a'"),
    # Shape layers
    ("reshape-negative", lambda: L.Reshape((-2, 3)), V, "target_shape"),
    ("reshape-two-unknown", lambda: L.Reshape((-1, -1)), V, "target_shape"),
    ("reshape-str", lambda: L.Reshape("3x3"), V, "target_shape"),
    ("permute-not-permutation", lambda: L.Permute((1, 1)), V, "dims=(1, 1)"),
    ("permute-zero", lambda: L.Permute((0, 1)), V, "dims=(0, 1)"),
    ("permute-str", lambda: L.Permute("21"), V, "dims"),
    ("repeatvector-zero", lambda: L.RepeatVector(0), V, "n=0"),
    ("repeatvector-float", lambda: L.RepeatVector(2.5), V, "n=2.5"),
    ("flatten-format", lambda: L.Flatten(data_format="channels_middle"), V, "channels_middle"),
    ("lambda-not-callable", lambda: L.Lambda(3), T, "function"),
    ("actreg-negative", lambda: L.ActivityRegularization(l1=-1.0), V, "l1=-1.0"),
    ("masking-str", lambda: L.Masking(mask_value="zero"), T, "mask_value='zero'"),
    # Convolutions
    ("conv1d-negative-filters", lambda: L.Conv1D(-4, 3), V, "filters=-4"),
    ("conv1d-zero-kernel", lambda: L.Conv1D(4, 0), V, "kernel_size"),
    ("conv1d-bad-padding", lambda: L.Conv1D(4, 3, padding="full"), V, "full"),
    ("conv1d-bad-format", lambda: L.Conv1D(4, 3, data_format="nwc"), V, "nwc"),
    ("conv1d-zero-stride", lambda: L.Conv1D(4, 3, strides=0), V, "strides"),
    ("conv1d-use-bias-str", lambda: L.Conv1D(4, 3, use_bias="False"), T,
     "use_bias='False'"),
    ("conv1d-bad-activation", lambda: L.Conv1D(4, 3, activation="swishy"), V, "swishy"),
    ("conv2d-kernel-three", lambda: L.Conv2D(4, (3, 3, 3)), V, "kernel_size"),
    ("conv2d-kernel-negative", lambda: L.Conv2D(4, (3, -1)), V, "kernel_size"),
    ("conv2d-bad-padding", lambda: L.Conv2D(4, 3, padding="SAME "), V, "padding"),
    ("conv2d-causal-padding", lambda: L.Conv2D(4, 3, padding="causal"), V, "causal"),
    ("conv2d-bad-format", lambda: L.Conv2D(4, 3, data_format="NCHW"), V, "NCHW"),
    ("conv2d-no-filters", lambda: L.Conv2D(None, 3), T, "filters"),
    ("conv2d-str-filters", lambda: L.Conv2D("8", 3), V, "filters='8'"),
    ("conv2d-no-kernel", lambda: L.Conv2D(4), T, "kernel_size"),
    ("conv2d-bad-dilation", lambda: L.Conv2D(4, 3, dilation_rate=0), V, "dilation_rate"),
    ("zeropadding1d-negative", lambda: L.ZeroPadding1D(-1), V, "padding"),
    ("zeropadding2d-str", lambda: L.ZeroPadding2D("same"), V, "padding"),
    ("cropping1d-negative", lambda: L.Cropping1D((-1, 0)), V, "cropping"),
    ("cropping2d-three", lambda: L.Cropping2D(((1, 1), (1, 1), (1, 1))), V, "cropping"),
    ("upsampling1d-zero", lambda: L.UpSampling1D(0), V, "size"),
    ("upsampling2d-negative", lambda: L.UpSampling2D((2, -2)), V, "size"),
    ("upsampling2d-interp", lambda: L.UpSampling2D(interpolation="cubic"), V, "cubic"),
    # Pooling
    ("maxpool1d-zero", lambda: L.MaxPooling1D(0), V, "pool_size"),
    ("maxpool2d-negative-stride", lambda: L.MaxPooling2D((2, 2), strides=-1), V, "strides"),
    ("maxpool2d-bad-padding", lambda: L.MaxPooling2D(padding="valid2"), V, "valid2"),
    ("avgpool2d-bad-format", lambda: L.AveragePooling2D(data_format="nhwc"), V, "nhwc"),
    ("avgpool1d-three-sizes", lambda: L.AveragePooling1D((2, 2)), V, "pool_size"),
    ("globalmax2d-bad-format", lambda: L.GlobalMaxPooling2D(data_format="x"), V,
     "data_format='x'"),
    # Normalization
    ("batchnorm-momentum-above-one", lambda: L.BatchNormalization(momentum=1.5), V,
     "momentum=1.5"),
    ("batchnorm-negative-epsilon", lambda: L.BatchNormalization(epsilon=-1e-3), V,
     "epsilon=-0.001"),
    ("batchnorm-axis-str", lambda: L.BatchNormalization(axis="channels"), T, "axis='channels'"),
    ("batchnorm-bad-init", lambda: L.BatchNormalization(gamma_initializer="nope"), V, "nope"),
    # Embedding
    ("embedding-zero-input-dim", lambda: L.Embedding(0, 4), V, "input_dim=0"),
    ("embedding-negative-output-dim", lambda: L.Embedding(10, -4), V, "output_dim=-4"),
    ("embedding-missing-dims", lambda: L.Embedding(), T, "input_dim"),
    ("embedding-input-length-zero", lambda: L.Embedding(10, 4, input_length=0), V,
     "input_length=0"),
    # Recurrent
    ("lstm-negative-units", lambda: L.LSTM(-2), V, "units=-2"),
    ("lstm-dropout-one", lambda: L.LSTM(2, dropout=1.0), V, "dropout=1.0"),
    ("lstm-recurrent-dropout-negative", lambda: L.LSTM(2, recurrent_dropout=-0.2), V,
     "recurrent_dropout=-0.2"),
    ("lstm-bad-activation", lambda: L.LSTM(2, activation="tanhh"), V, "tanhh"),
    ("lstm-bad-recurrent-activation", lambda: L.LSTM(2, recurrent_activation="hard"), V,
     "hard"),
    ("lstm-implementation", lambda: L.LSTM(2, implementation=7), V, "implementation=7"),
    ("gru-str-units", lambda: L.GRU("4"), V, "units='4'"),
    ("gru-reset-after-str", lambda: L.GRU(4, reset_after="yes"), T, "reset_after='yes'"),
    ("lstm-return-sequences-str", lambda: L.LSTM(2, return_sequences="False"), T,
     "return_sequences='False'"),
    ("lstm-stateful-str", lambda: L.LSTM(2, stateful="yes"), T, "stateful='yes'"),
    ("dense-use-bias-str", lambda: L.Dense(2, use_bias="no"), T, "use_bias='no'"),
    ("batchnorm-center-str", lambda: L.BatchNormalization(center="yes"), T, "center='yes'"),
    ("embedding-mask-zero-str", lambda: L.Embedding(10, 2, mask_zero="true"), T,
     "mask_zero='true'"),
    ("simplernn-zero-units", lambda: L.SimpleRNN(0), V, "units=0"),
    ("simplernn-dropout-str", lambda: L.SimpleRNN(2, dropout="half"), V, "dropout='half'"),
    # Wrappers and Merge
    ("timedistributed-not-layer", lambda: L.TimeDistributed("dense"), T, "layer"),
    ("bidirectional-not-rnn", lambda: L.Bidirectional(L.Dense(2)), V, "Bidirectional"),
    ("bidirectional-merge-mode", lambda: L.Bidirectional(L.LSTM(2), merge_mode="plus"), V,
     "plus"),
    ("merge-one-branch", lambda: L.Merge([None]), V, "at least 2"),
    ("merge-bad-mode", lambda: L.Merge([_branch(), _branch()], mode="append"), V, "append"),
]


def _branch():
    from gpuseq.models import Sequential
    return Sequential([L.Dense(2, input_shape=(3,))])


@pytest.mark.parametrize("make, exc, fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_layer_argument_is_rejected_by_the_constructor(make, exc, fragment, model):
    expect_rejected(make, exc, fragment, model=model)
