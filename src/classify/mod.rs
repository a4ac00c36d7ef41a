//! Image classification with an ONNX model through OpenCV's DNN module: the pure core a batch's
//! classify work runs on every rank, built and tested without MPI.
//!
//! - [`spec`]: the model and what it expects (its sidecar `M.json`: input size, resize policy,
//!   mean/std, channel order, layout, labels), checked before any image is read;
//! - [`labels`]: the labels file (one class a line, plain or `n01443537 goldfish, ...`);
//! - [`onnx_shape`]: the input shape a model declares, read from its protobuf;
//! - [`tensor`]: one decoded image turned into the model's input, as the sidecar says;
//! - [`net`]: the loaded network; forward passes of a fixed batch size;
//! - [`record`]: one image's result (top-k labels with scores) as a JSON or CSV line;
//! - [`results`]: the results file, appended as images finish and reconciled on resume;
//! - [`run`]: one forward pass over a group of batch images, as every rank runs it;
//! - [`eval`]: top-1/top-5 accuracy and confusions when the inputs are class folders;
//! - [`info`]: descriptions of labels from a local file (what `/whatis` answers as `info`).

pub mod eval;
pub mod info;
pub mod labels;
pub mod net;
pub mod onnx_shape;
pub mod record;
pub mod results;
pub mod run;
pub mod spec;
pub mod tensor;
