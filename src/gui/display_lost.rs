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

type Handler = unsafe extern "C" fn(*mut c_void) -> c_int;
type SetHandler = unsafe extern "C" fn(Option<Handler>) -> Option<Handler>;

/// Makes Xlib call our handler on a lost connection. Xlib's handler is one per process and GTK
/// sets its own when its first file dialog opens, so the window calls this at every frame.
/// Does nothing until libX11 is loaded (winit loads it before the first frame).
pub fn install() {
    static SET: OnceLock<SetHandler> = OnceLock::new();
    let set = match SET.get() {
        Some(set) => set,
        None => match find_set_handler() {
            Some(set) => SET.get_or_init(|| set),
            None => return,
        },
    };
    // SAFETY: `set` is Xlib's XSetIOErrorHandler (see `find_set_handler`); `lost` has the
    // handler's C signature.
    unsafe { set(Some(lost)) };
}

/// Xlib's `XIOErrorHandler XSetIOErrorHandler(XIOErrorHandler)`, if libX11 is loaded.
fn find_set_handler() -> Option<SetHandler> {
    // SAFETY: RTLD_NOLOAD only finds the libX11 winit already loaded (nothing is loaded; dlclose
    // drops just the reference dlopen added, winit keeps the library). The symbol has the C
    // signature `SetHandler` declares: it takes and returns a `int (*)(Display *)`.
    unsafe {
        let lib = libc::dlopen(c"libX11.so.6".as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if lib.is_null() {
            return None;
        }
        let symbol = libc::dlsym(lib, c"XSetIOErrorHandler".as_ptr());
        libc::dlclose(lib);
        (!symbol.is_null()).then(|| std::mem::transmute::<*mut c_void, SetHandler>(symbol))
    }
}

/// Xlib's I/O error handler: may run on any thread that talks to X (winit's, GTK's); the first
/// one shuts the job down and exits, any other waits for that exit (holding its display's lock). Never returns (Xlib would
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
    // `_exit`, not `exit`: the libraries' exit handlers (libGLX closing its display) would wait
    // for the Xlib lock another thread holds while it waits in here.
    // SAFETY: ends the process at once; MPI is finalised and nothing else needs flushing.
    unsafe { libc::_exit(0) }
}
