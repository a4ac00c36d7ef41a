//! The desktop GUI on rank 0 (issue 3). Until it lands, say how to use the CLI.

/// Opens the GUI; for now explains the CLI instead.
pub fn launch() -> anyhow::Result<()> {
    Err(crate::commands::CommandError::CannotStart(anyhow::anyhow!(
        "the GUI is not built yet; use `imgproc run` or `imgproc batch` (see `imgproc --help`)"
    ))
    .into())
}
