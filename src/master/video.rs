//! placeholder
pub struct VideoRun;
