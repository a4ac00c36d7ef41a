//! Loading an embedded shared object from memory and finding its functions.

use crate::shim::{message, MSG_LEN};
use anyhow::{bail, Context, Result};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

/// A loaded shim; never unloaded (its functions are kept in statics for the process's life).
pub(crate) struct Plugin {
    handle: *mut c_void,
    name: &'static str,
}

// SAFETY: the handle is only used for dlsym, which is thread-safe.
unsafe impl Send for Plugin {}
unsafe impl Sync for Plugin {}

impl Plugin {
    /// Writes `bytes` (a shared object) into an anonymous in-memory file and loads it from there.
    pub(crate) fn load(name: &'static str, bytes: &[u8]) -> Result<Plugin> {
        let cname = CString::new(name).expect("plugin names have no NUL");
        // SAFETY: memfd_create takes a NUL-terminated name and flags; the fd is owned below.
        let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("{name}: memfd_create"));
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).with_context(|| format!("{name}: writing the shared object to memory"))?;
        let path = CString::new(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file)))
            .expect("no NUL in a path of digits");
        // SAFETY: dlopen takes a NUL-terminated path. RTLD_LOCAL: OpenCV's codec libraries stay out
        // of the global symbol scope; RTLD_NOW: a missing library is an error here, not mid-call.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            bail!("loading OpenCV's {name}: {}", dl_error());
        }
        // The descriptor stays open for the process's life: glibc knows a loaded object by its
        // path first, so a later shim given the same fd number (and so the same /proc path)
        // would be taken for this one.
        let _kept = std::os::fd::IntoRawFd::into_raw_fd(file);
        Ok(Plugin { handle, name })
    }

    /// The address of the function `symbol`, as `F` (a `extern "C" fn` pointer type).
    ///
    /// # Safety
    /// `F` must be the function's true signature.
    pub(crate) unsafe fn function<F: Copy>(&self, symbol: &str) -> Result<F> {
        assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
        let csym = CString::new(symbol).expect("symbol names have no NUL");
        // SAFETY: a live handle and a NUL-terminated name.
        let address = unsafe { libc::dlsym(self.handle, csym.as_ptr()) };
        if address.is_null() {
            bail!("{}: no function {symbol}: {}", self.name, dl_error());
        }
        // SAFETY: the caller vouches for the signature; sizes are checked above.
        Ok(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&address) })
    }
}

/// The functions `resolve` finds in the shim `bytes`, loaded by the first caller of `cell`; a
/// failure to load is kept and given to every caller.
pub(crate) fn once<T>(
    cell: &'static OnceLock<Result<T, String>>,
    name: &'static str,
    bytes: &[u8],
    resolve: impl FnOnce(&Plugin) -> Result<T>,
) -> Result<&'static T> {
    let loaded = cell.get_or_init(|| Plugin::load(name, bytes).and_then(|p| resolve(&p)).map_err(|e| format!("{e:#}")));
    loaded.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl call.
    let msg = unsafe { libc::dlerror() };
    if msg.is_null() {
        "unknown error".into()
    } else {
        unsafe { CStr::from_ptr(msg) }.to_string_lossy().into_owned()
    }
}

/// Runs a shim call that writes its message into a buffer; its non-zero status becomes an error
/// with OpenCV's message (its first line: OpenCV ends them with a newline).
pub(crate) fn checked(call: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    let mut buf = [0 as c_char; MSG_LEN];
    if call(buf.as_mut_ptr(), MSG_LEN) == 0 {
        return Ok(());
    }
    bail!("{}", message(&buf).trim_end())
}
