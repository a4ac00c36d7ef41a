//! Losing the X display (the remote-desktop session ends, the X server dies) must still end the
//! job cleanly. Xlib reports a lost connection to its I/O error handler and then calls `exit(1)`:
//! rank 0 would vanish without shutting the workers down, and `mpirun` would abort the job with
//! exit 1. [`install`] sets a handler that runs the shutdown given to [`on_lost`] (cancel the job,
//! shut every rank down, finalise MPI) and exits 0. A window destroyed under winit is a panic
//! instead, caught in `gui::launch`.

use std::ffi::c_void;
use std::io::Write as _;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

type Shutdown = Box<dyn Fn() + Send + Sync>;

static SHUTDOWN: OnceLock<Shutdown> = OnceLock::new();
static LOST: AtomicBool = AtomicBool::new(false);

/// What to do when the display is lost, before the process exits 0. The first call wins.
pub fn on_lost(shutdown: impl Fn() + Send + Sync + 'static) {
    let _ = SHUTDOWN.set(Box::new(shutdown));
}

/// Makes Xlib call our handler on a lost connection. Xlib's handler is one per process and GTK
/// sets its own when its first file dialog opens, so this is called again after every dialog.
/// Does nothing when libX11 is not loaded (no X window yet).
pub fn install() {
    type Handler = unsafe extern "C" fn(*mut c_void) -> c_int;
    type SetHandler = unsafe extern "C" fn(Option<Handler>) -> Option<Handler>;
    // SAFETY: RTLD_NOLOAD only finds the libX11 winit already loaded (it is not loaded or
    // unloaded here: dlclose drops just the reference dlopen added). The symbol is Xlib's
    // `XIOErrorHandler XSetIOErrorHandler(XIOErrorHandler)`, whose handler takes a `Display *`
    // and returns int, as `SetHandler` and `lost` declare.
    unsafe {
        let lib = libc::dlopen(c"libX11.so.6".as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if lib.is_null() {
            return;
        }
        let symbol = libc::dlsym(lib, c"XSetIOErrorHandler".as_ptr());
        if !symbol.is_null() {
            let set: SetHandler = std::mem::transmute::<*mut c_void, SetHandler>(symbol);
            set(Some(lost));
        }
        libc::dlclose(lib);
    }
}

/// Xlib's I/O error handler: may run on any thread that talks to X (winit's, GTK's); the first
/// one shuts the job down and exits, any other waits for that exit. Never returns (Xlib would
/// exit 1) and never unwinds (it is called from C).
unsafe extern "C" fn lost(_display: *mut c_void) -> c_int {
    if LOST.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "imgproc gui: the X display was lost; stopping the job and shutting every rank down"
    );
    if let Some(shutdown) = SHUTDOWN.get() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(shutdown));
    }
    std::process::exit(0)
}
