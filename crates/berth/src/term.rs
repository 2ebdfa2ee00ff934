//! The caller's terminal for `run -t`/`attach`: raw mode and its size.
//! All of the CLI's terminal `unsafe` is here.

use std::os::fd::RawFd;

/// The terminal's settings before raw mode, restored by [`restore`].
#[derive(Clone, Copy)]
pub struct Saved {
    fd: RawFd,
    orig: libc::termios,
}

/// Puts `fd` in raw mode if it is a terminal.
pub fn make_raw(fd: RawFd) -> Option<Saved> {
    // SAFETY: isatty on a descriptor number.
    if unsafe { libc::isatty(fd) } != 1 {
        return None;
    }
    // SAFETY: termios is plain data; tcgetattr fills it.
    let mut orig: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a valid termios to fill.
    if unsafe { libc::tcgetattr(fd, &mut orig) } != 0 {
        return None;
    }
    let mut raw = orig;
    // SAFETY: cfmakeraw edits the local copy.
    unsafe { libc::cfmakeraw(&mut raw) };
    // SAFETY: a valid termios for the terminal.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
        return None;
    }
    Some(Saved { fd, orig })
}

pub fn restore(s: &Saved) {
    // SAFETY: the settings read from this terminal.
    unsafe { libc::tcsetattr(s.fd, libc::TCSANOW, &s.orig) };
}

/// (rows, cols) of the terminal on `fd`.
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data that TIOCGWINSZ fills.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 || ws.ws_row == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// One read(2) of fd 0 (std's stdin buffers; keystrokes must go at once).
pub fn read_stdin(buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
