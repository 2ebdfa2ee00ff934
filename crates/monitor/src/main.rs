//! `berth-monitor`: the per-container monitor (conmon's design), a static
//! libc-free program of a few pages.
//!
//! `berth` starts it daemonized (stdio on /dev/null, the start report pipe
//! on fd 3, an attached caller's socket on fd 4 with `--attach`, the sockets
//! of the published host ports on fds 5.. with `--held-fds N`). It makes
//! itself a child subreaper, creates the container's stdio pipes (or, with
//! `--tty`, a console socket receiving the pty master), and runs
//! `EXE internal create-start ID` (the full berth program) with them; that
//! creates and starts the container and reports `ok PID` or `err MESSAGE`
//! on fd 3, which the monitor passes on to `berth`. The container's init is
//! re-parented to the monitor, which then:
//!
//! - appends the output to the log (`--log`): docker json-file lines, or
//!   with `--log-driver local` the engine's framed binary entries
//!   (engine::logs::LOCAL_FORMAT); `--log-driver none` keeps nothing.
//!   `--log-attrs JSON` adds the entries' attributes; with
//!   `--log-max-size N --log-max-file M` a file of N bytes or more is
//!   rotated before the next entry (`<log>.1`, ...), and with
//!   `--log-compress` `EXE internal log-compress ID <log>.1 LASTTIME`
//!   gzips the rotated file (the next rotation waits for it);
//! - serves `<dir>/attach` (a unix socket, several clients): output in
//!   docker's stdcopy framing (stream 1 with a tty), client frames of kind
//!   0 (stdin data), 1 (close stdin), 2 (resize: rows, cols as u16 BE);
//! - runs `EXE internal healthcheck ID` every `--health MS`; with
//!   `--health-start MS` (a start period) first after that start interval,
//!   and again after it while the check exits 3 (still `starting` in its
//!   start period, engine::health::HEALTH_STARTING_EXIT);
//! - reaps every child; when the init exits and its output is drained,
//!   writes `<dir>/exit` atomically and execs `EXE internal cleanup ID`
//!   with the clients' sockets (`--notify FD`), which records the exit,
//!   tears the container down, removes or restarts it, and sends the
//!   clients the exit code.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use core::ffi::CStr;
use tiny::fmt::rfc3339_nano;
use tiny::rt::Args;
use tiny::sys::{self, Fork, PollFd};
use tiny::Buf;

tiny::entry!(main);

const SYNC_FD: i32 = 3;
const ATTACH_FD: i32 = 4;
const HELD_FD0: i32 = 5;
const MAX_CLIENTS: usize = 8;
/// Docker's json-file splits lines longer than this.
const MAX_LINE: usize = 16 * 1024;
/// The engine caps `--log-attrs` at this.
const MAX_ATTRS: usize = 4096;
const LINE_CAP: usize = MAX_LINE * 6 + 256 + MAX_ATTRS;

struct Opts {
    exe: &'static CStr,
    root: &'static CStr,
    run_root: &'static CStr,
    id: &'static CStr,
    dir: &'static CStr,
    log: &'static CStr,
    /// `--log-driver local` (binary frames) / `none` (no log).
    local: bool,
    no_log: bool,
    log_max_size: u64,
    log_max_file: u64,
    log_compress: bool,
    log_attrs: &'static [u8],
    stdin: bool,
    tty: bool,
    attach: bool,
    /// `--rm`: the exit record is not fsynced.
    volatile: bool,
    health_ms: u64,
    /// The start interval (0: none).
    health_start_ms: u64,
    /// Descriptors 5..5+held: the published host ports' sockets, held
    /// (never used) until the container exits.
    held: u64,
}

/// The healthcheck helper's exit code while the container is `starting`
/// in its start period (engine::health::HEALTH_STARTING_EXIT).
const HEALTH_STARTING_EXIT: i32 = 3;

fn parse(args: &Args) -> Option<Opts> {
    let mut o = Opts {
        exe: c"",
        root: c"",
        run_root: c"",
        id: c"",
        dir: c"",
        log: c"",
        local: false,
        no_log: false,
        log_max_size: 0,
        log_max_file: 1,
        log_compress: false,
        log_attrs: b"",
        stdin: false,
        tty: false,
        attach: false,
        volatile: false,
        health_ms: 0,
        health_start_ms: 0,
        held: 0,
    };
    let mut i = 1;
    while let Some(a) = args.get(i) {
        let v = args.get(i + 1);
        match a.to_bytes() {
            b"--stdin" => o.stdin = true,
            b"--tty" => o.tty = true,
            b"--attach" => o.attach = true,
            b"--volatile" => o.volatile = true,
            b"--log-compress" => o.log_compress = true,
            k => {
                let v = v?;
                match k {
                    b"--exe" => o.exe = v,
                    b"--root" => o.root = v,
                    b"--run-root" => o.run_root = v,
                    b"--id" => o.id = v,
                    b"--dir" => o.dir = v,
                    b"--log" => o.log = v,
                    b"--log-driver" => match v.to_bytes() {
                        b"local" => o.local = true,
                        b"none" => o.no_log = true,
                        b"json-file" => {}
                        _ => return None,
                    },
                    b"--log-max-size" => o.log_max_size = tiny::fmt::parse_u64(v.to_bytes())?,
                    b"--log-max-file" => o.log_max_file = tiny::fmt::parse_u64(v.to_bytes())?,
                    b"--log-attrs" => {
                        o.log_attrs = v.to_bytes();
                        if o.log_attrs.len() > MAX_ATTRS {
                            return None;
                        }
                    }
                    b"--health" => o.health_ms = tiny::fmt::parse_u64(v.to_bytes())?,
                    b"--health-start" => o.health_start_ms = tiny::fmt::parse_u64(v.to_bytes())?,
                    b"--held-fds" => o.held = tiny::fmt::parse_u64(v.to_bytes())?,
                    _ => return None,
                }
                i += 1;
            }
        }
        i += 1;
    }
    if o.exe.is_empty() || o.id.is_empty() || o.dir.is_empty() || (o.log.is_empty() && !o.no_log) {
        return None;
    }
    Some(o)
}

/// `dir/name` as a C string.
fn path_in(dir: &CStr, name: &[u8]) -> Buf<4096> {
    let mut b = Buf::new();
    b.push(dir.to_bytes()).push(b"/").push(name);
    b
}

/// What rotation needs to start the compressor.
struct Ctx<'a> {
    o: &'a Opts,
    args: &'a Args,
    devnull: i32,
}

/// The log file: its format, size and rotation.
struct LogOut {
    fd: i32,
    size: u64,
    /// The compressor of the last rotated file, while it runs.
    compress_pid: i32,
    /// The time of the last entry written.
    last: (i64, u32),
}

/// `<log>.N[.gz]` as a C string buffer.
fn numbered(log: &CStr, n: u64, gz: bool) -> Buf<4096> {
    let mut b = Buf::new();
    b.push(log.to_bytes()).push(b".").push_u64(n);
    if gz {
        b.push(b".gz");
    }
    b
}

impl LogOut {
    fn open(o: &Opts) -> LogOut {
        let mut l = LogOut {
            fd: -1,
            size: 0,
            compress_pid: 0,
            last: (0, 0),
        };
        if !o.no_log {
            let flags = sys::O_WRONLY | sys::O_APPEND | sys::O_CREAT | sys::O_CLOEXEC;
            l.fd = sys::open(o.log, flags, 0o640).unwrap_or(-1);
            if l.fd >= 0 {
                l.size = sys::lseek(l.fd, 0, sys::SEEK_END).unwrap_or(0);
            }
        }
        l
    }

    /// Appends one encoded entry, rotating first when the file is full.
    fn write(&mut self, entry: &[u8], ctx: &Ctx) {
        if self.fd < 0 {
            return;
        }
        if ctx.o.log_max_size > 0 && self.size >= ctx.o.log_max_size {
            self.rotate(ctx);
            if self.fd < 0 {
                return;
            }
        }
        if sys::write_all(self.fd, entry).is_ok() {
            self.size += entry.len() as u64;
        }
    }

    /// docker's rotation: shift `.1`.. up (dropping the last), the file
    /// to `.1` (or away with one file), begin a new one, compress `.1`.
    fn rotate(&mut self, ctx: &Ctx) {
        let o = ctx.o;
        self.wait_compressor();
        sys::close(self.fd);
        self.fd = -1;
        if o.log_max_file < 2 {
            let _ = sys::unlinkat(sys::AT_FDCWD, o.log, 0);
        } else {
            let gz = o.log_compress;
            let _ = sys::unlinkat(
                sys::AT_FDCWD,
                numbered(o.log, o.log_max_file - 1, gz).as_cstr(),
                0,
            );
            for i in (2..o.log_max_file).rev() {
                let _ = sys::renameat(
                    sys::AT_FDCWD,
                    numbered(o.log, i - 1, gz).as_cstr(),
                    sys::AT_FDCWD,
                    numbered(o.log, i, gz).as_cstr(),
                );
            }
            let _ = sys::renameat(
                sys::AT_FDCWD,
                o.log,
                sys::AT_FDCWD,
                numbered(o.log, 1, false).as_cstr(),
            );
        }
        let flags = sys::O_WRONLY | sys::O_APPEND | sys::O_CREAT | sys::O_TRUNC | sys::O_CLOEXEC;
        self.fd = sys::open(o.log, flags, 0o640).unwrap_or(-1);
        self.size = 0;
        if o.log_compress && o.log_max_file >= 2 {
            let mut file = numbered(o.log, 1, false);
            let mut t = [0u8; 30];
            let mut last: Buf<32> = Buf::new();
            last.push(rfc3339_nano(self.last.0, self.last.1, &mut t));
            let extra = [
                file.as_cstr().as_ptr() as *const u8,
                last.as_cstr().as_ptr() as *const u8,
            ];
            self.compress_pid = spawn_helper(
                o,
                ctx.args,
                c"log-compress",
                &extra,
                [-1, -1, -1, -1, -1],
                ctx.devnull,
            )
            .unwrap_or(0);
        }
    }

    fn wait_compressor(&mut self) {
        if self.compress_pid > 0 {
            let _ = sys::wait4(self.compress_pid, 0);
            self.compress_pid = 0;
        }
    }
}

/// One output stream: a pending partial line.
struct Logger {
    name: &'static [u8],
    /// The local format's stream byte.
    id: u8,
    pending: [u8; MAX_LINE],
    len: usize,
}

impl Logger {
    fn new(name: &'static [u8], id: u8) -> Logger {
        Logger {
            name,
            id,
            pending: [0; MAX_LINE],
            len: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8], log: &mut LogOut, line: &mut Buf<LINE_CAP>, ctx: &Ctx) {
        while !data.is_empty() {
            let room = MAX_LINE - self.len;
            let nl = data.iter().position(|c| *c == b'\n');
            let take = match nl {
                Some(p) if p < room => p + 1,
                _ => room.min(data.len()),
            };
            self.pending[self.len..self.len + take].copy_from_slice(&data[..take]);
            self.len += take;
            data = &data[take..];
            if self.len == MAX_LINE || self.pending[self.len - 1] == b'\n' {
                self.emit(log, line, ctx);
            }
        }
    }

    fn emit(&mut self, log: &mut LogOut, line: &mut Buf<LINE_CAP>, ctx: &Ctx) {
        if self.len == 0 {
            return;
        }
        let (s, n) = sys::clock_gettime(sys::CLOCK_REALTIME);
        let data = &self.pending[..self.len];
        let attrs = ctx.o.log_attrs;
        line.clear();
        if ctx.o.local {
            let len = ((12 + attrs.len() + data.len()) as u32).to_be_bytes();
            let ns = s.saturating_mul(1_000_000_000).saturating_add(n as i64);
            line.push(&len)
                .push(&ns.to_be_bytes())
                .push(&[self.id, 0])
                .push(&(attrs.len() as u16).to_be_bytes())
                .push(attrs)
                .push(data)
                .push(&len);
        } else {
            let mut t = [0u8; 30];
            line.push(b"{\"log\":\"")
                .push_json_str(data)
                .push(b"\",\"stream\":\"")
                .push(self.name);
            if !attrs.is_empty() {
                line.push(b"\",\"attrs\":")
                    .push(attrs)
                    .push(b",\"time\":\"");
            } else {
                line.push(b"\",\"time\":\"");
            }
            line.push(rfc3339_nano(s, n, &mut t)).push(b"\"}\n");
        }
        log.last = (s, n);
        log.write(line.as_bytes(), ctx);
        self.len = 0;
    }
}

#[derive(Clone, Copy)]
struct Client {
    fd: i32,
    hdr: [u8; 8],
    hlen: usize,
    need: usize,
    kind: u8,
    small: [u8; 4],
    slen: usize,
}

impl Client {
    const fn new(fd: i32) -> Client {
        Client {
            fd,
            hdr: [0; 8],
            hlen: 0,
            need: 0,
            kind: 0,
            small: [0; 4],
            slen: 0,
        }
    }
}

struct Mon {
    clients: [Option<Client>; MAX_CLIENTS],
    stdin_fd: i32,
    master: i32,
    /// Input not yet taken by the container (its stdin is non-blocking;
    /// clients are not read while this holds data).
    pending: [u8; 8192],
    plen: usize,
    /// A client closed stdin after the pending data.
    close_after: bool,
}

impl Mon {
    fn input_fd(&self) -> i32 {
        if self.master >= 0 {
            self.master
        } else {
            self.stdin_fd
        }
    }

    fn close_stdin(&mut self) {
        if self.stdin_fd >= 0 {
            sys::close(self.stdin_fd);
            self.stdin_fd = -1;
        }
        self.plen = 0;
        self.close_after = false;
    }

    /// Writes what the container takes of the pending input.
    fn flush_input(&mut self) {
        let fd = self.input_fd();
        while self.plen > 0 {
            if fd < 0 {
                self.plen = 0;
                break;
            }
            match sys::write(fd, &self.pending[..self.plen]) {
                Ok(n) if n > 0 => {
                    self.pending.copy_within(n..self.plen, 0);
                    self.plen -= n;
                }
                Err(sys::Errno(sys::EINTR)) => {}
                Err(sys::Errno(sys::EAGAIN)) => return,
                _ => {
                    // The container closed its stdin.
                    if self.master < 0 {
                        self.close_stdin();
                    }
                    self.plen = 0;
                }
            }
        }
        if self.close_after {
            self.close_stdin();
        }
    }

    fn add_client(&mut self, fd: i32) {
        for c in self.clients.iter_mut() {
            if c.is_none() {
                *c = Some(Client::new(fd));
                return;
            }
        }
        sys::close(fd);
    }

    fn broadcast(&mut self, stream: u8, data: &[u8]) {
        let n = data.len() as u32;
        let mut hdr = [stream, 0, 0, 0, 0, 0, 0, 0];
        hdr[4..8].copy_from_slice(&n.to_be_bytes());
        for slot in self.clients.iter_mut() {
            if let Some(c) = slot {
                if sys::send_all(c.fd, &hdr).is_err() || sys::send_all(c.fd, data).is_err() {
                    sys::close(c.fd);
                    *slot = None;
                }
            }
        }
    }

    /// Handles bytes from client `i`'s frames.
    fn client_input(&mut self, i: usize, mut data: &[u8]) {
        while !data.is_empty() {
            let Some(c) = self.clients[i].as_mut() else {
                return;
            };
            if c.hlen < 8 {
                let take = (8 - c.hlen).min(data.len());
                c.hdr[c.hlen..c.hlen + take].copy_from_slice(&data[..take]);
                c.hlen += take;
                data = &data[take..];
                if c.hlen == 8 {
                    c.kind = c.hdr[0];
                    c.need = u32::from_be_bytes([c.hdr[4], c.hdr[5], c.hdr[6], c.hdr[7]]) as usize;
                    c.slen = 0;
                    if c.need == 0 {
                        let k = c.kind;
                        c.hlen = 0;
                        self.frame_done(i, k);
                    }
                }
                continue;
            }
            let take = c.need.min(data.len());
            let chunk = &data[..take];
            data = &data[take..];
            c.need -= take;
            let kind = c.kind;
            if kind == 2 {
                for &b in chunk {
                    if c.slen < 4 {
                        c.small[c.slen] = b;
                        c.slen += 1;
                    }
                }
            }
            let done = c.need == 0;
            if done {
                c.hlen = 0;
            }
            if kind == 0 && self.input_fd() >= 0 {
                let n = chunk.len().min(self.pending.len() - self.plen);
                self.pending[self.plen..self.plen + n].copy_from_slice(&chunk[..n]);
                self.plen += n;
            }
            if done {
                self.frame_done(i, kind);
            }
        }
    }

    fn frame_done(&mut self, i: usize, kind: u8) {
        match kind {
            1 => {
                if self.plen > 0 {
                    self.close_after = true;
                } else {
                    self.close_stdin();
                }
            }
            2 => {
                if let Some(c) = self.clients[i] {
                    if self.master >= 0 && c.slen == 4 {
                        let rows = u16::from_be_bytes([c.small[0], c.small[1]]);
                        let cols = u16::from_be_bytes([c.small[2], c.small[3]]);
                        let _ = sys::set_winsize(self.master, rows, cols);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Runs `EXE internal VERB [flags] ID` with the given fds 0..=4 (-1: /dev/null
/// or closed); returns the child's pid.
fn spawn_helper(
    o: &Opts,
    args: &Args,
    verb: &CStr,
    extra: &[*const u8],
    fds: [i32; 5],
    devnull: i32,
) -> sys::Res<i32> {
    match sys::fork()? {
        Fork::Child => {
            for (n, fd) in fds.iter().enumerate() {
                let src = if *fd >= 0 { *fd } else { devnull };
                if n < 3 || *fd >= 0 {
                    let _ = sys::dup2(src, n as i32);
                }
            }
            let _ = sys::sigprocmask(sys::SIG_SETMASK, 0);
            let mut argv: [*const u8; 24] = [core::ptr::null(); 24];
            let fixed: [&CStr; 8] = [
                c"berth",
                c"internal",
                verb,
                c"--root",
                o.root,
                c"--run-root",
                o.run_root,
                o.id,
            ];
            let mut n = 0;
            for f in fixed {
                argv[n] = f.as_ptr() as *const u8;
                n += 1;
            }
            for e in extra {
                if n < 23 {
                    argv[n] = *e;
                    n += 1;
                }
            }
            let envp = args.envp_slice();
            let _ = sys::execve(o.exe, &argv[..=n], envp);
            let _ = sys::write(2, b"berth-monitor: cannot exec the berth helper\n");
            sys::exit(127)
        }
        Fork::Parent(p) => Ok(p),
    }
}

fn fail(msg: &[u8]) -> i32 {
    let mut b: Buf<512> = Buf::new();
    b.push(b"err berth-monitor: ").push(msg).push(b"\n");
    let _ = sys::write_all(SYNC_FD, b.as_bytes());
    1
}

fn main(args: Args) -> i32 {
    let Some(o) = parse(&args) else {
        return fail(b"usage: --exe BERTH --root R --run-root RR --id ID --dir DIR (--log FILE [--log-driver local] [--log-max-size N --log-max-file N [--log-compress]] [--log-attrs JSON] | --log-driver none) [--stdin] [--tty] [--attach] [--health MS [--health-start MS]] [--held-fds N]");
    };
    let _ = sys::set_cloexec(SYNC_FD, true);
    // Held here only: closed when the exit command is exec'd (so a restart
    // can bind the ports again), never inherited by helpers.
    for fd in 0..o.held.min(64) {
        let _ = sys::set_cloexec(HELD_FD0 + fd as i32, true);
    }
    if o.attach {
        let _ = sys::set_cloexec(ATTACH_FD, true);
    }
    let devnull = match sys::open(c"/dev/null", sys::O_RDWR, 0) {
        Ok(f) => f,
        Err(_) => return fail(b"cannot open /dev/null"),
    };
    for n in 0..3 {
        let _ = sys::dup2(devnull, n);
    }
    let _ = sys::chdir(c"/");
    let _ = sys::prctl(sys::PR_SET_CHILD_SUBREAPER, 1);
    let _ = sys::sigprocmask(sys::SIG_SETMASK, sys::ALL_SIGNALS);
    let sfd = match sys::signalfd(sys::sig_bit(sys::SIGCHLD)) {
        Ok(f) => f,
        Err(_) => return fail(b"cannot create a signalfd"),
    };
    let cloexec = sys::O_CLOEXEC;
    let Ok((rep_r, rep_w)) = sys::pipe2(cloexec) else {
        return fail(b"cannot create a pipe");
    };
    // The container's stdio.
    let (mut out_r, mut out_w, mut err_r, mut err_w) = (-1, -1, -1, -1);
    let (mut in_r, mut in_w) = (-1, -1);
    let (mut con_mine, mut con_theirs) = (-1, -1);
    if o.tty {
        match sys::socketpair(sys::SOCK_STREAM | sys::SOCK_CLOEXEC) {
            Ok((a, b)) => (con_mine, con_theirs) = (a, b),
            Err(_) => return fail(b"cannot create the console socket"),
        }
    } else {
        match (sys::pipe2(cloexec), sys::pipe2(cloexec)) {
            (Ok(a), Ok(b)) => {
                (out_r, out_w) = a;
                (err_r, err_w) = b;
            }
            _ => return fail(b"cannot create the output pipes"),
        }
        if o.stdin {
            match sys::pipe2(cloexec) {
                Ok(p) => (in_r, in_w) = p,
                Err(_) => return fail(b"cannot create the stdin pipe"),
            }
        }
    }
    // The attach socket, bound through /proc/self/fd (paths can be long).
    let Ok(dirfd) = sys::open(o.dir, sys::O_PATH | sys::O_DIRECTORY, 0) else {
        return fail(b"cannot open the container directory");
    };
    let _ = sys::unlinkat(dirfd, c"attach", 0);
    let mut sp: Buf<64> = Buf::new();
    sp.push(b"/proc/self/fd/")
        .push_u64(dirfd as u64)
        .push(b"/attach");
    let listen = match sys::socket(sys::AF_UNIX, sys::SOCK_STREAM | sys::SOCK_CLOEXEC) {
        Ok(l) => l,
        Err(_) => return fail(b"cannot create the attach socket"),
    };
    let bound = sys::SockaddrUn::new(sp.as_bytes())
        .map(|a| sys::bind(listen, &a).is_ok() && sys::listen(listen, 16).is_ok())
        .unwrap_or(false);
    if !bound {
        return fail(b"cannot bind the attach socket");
    }

    // Create and start the container through the full berth program.
    let con_arg: [*const u8; 2] = [
        c"--console-fd".as_ptr() as *const u8,
        c"4".as_ptr() as *const u8,
    ];
    let extra: &[*const u8] = if o.tty { &con_arg } else { &[] };
    let helper = spawn_helper(
        &o,
        &args,
        c"create-start",
        extra,
        [in_r, out_w, err_w, rep_w, con_theirs],
        devnull,
    );
    for fd in [in_r, out_w, err_w, rep_w, con_theirs] {
        if fd >= 0 {
            sys::close(fd);
        }
    }
    let Ok(helper) = helper else {
        return fail(b"cannot fork");
    };
    let mut rep: Buf<4096> = Buf::new();
    let mut chunk = [0u8; 512];
    loop {
        match sys::read(rep_r, &mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                rep.push(&chunk[..n]);
                if rep.as_bytes().contains(&b'\n') {
                    break;
                }
            }
            Err(sys::Errno(sys::EINTR)) => {}
            Err(_) => break,
        }
    }
    sys::close(rep_r);
    let _ = sys::wait4(helper, 0);
    let r = rep.as_bytes();
    let pid = r
        .strip_prefix(b"ok ")
        .and_then(|p| tiny::fmt::parse_u64(p.split(|c| *c == b'\n').next().unwrap_or(b"")))
        .unwrap_or(0) as i32;
    if pid <= 0 {
        if r.is_empty() {
            return fail(b"the create helper exited without a report");
        }
        let _ = sys::write_all(SYNC_FD, r);
        let _ = sys::unlinkat(dirfd, c"attach", 0);
        return 1;
    }
    let mut master = -1;
    if o.tty {
        master = match sys::recv_fd(con_mine) {
            Ok(Some(m)) => m,
            _ => -1,
        };
        sys::close(con_mine);
        out_r = master;
    }
    con_mine = -1;
    let _ = con_mine;
    let _ = sys::write_all(SYNC_FD, r);
    sys::close(SYNC_FD);

    let mut m = Mon {
        clients: [None; MAX_CLIENTS],
        stdin_fd: in_w,
        master: if o.stdin { master } else { -1 },
        pending: [0; 8192],
        plen: 0,
        close_after: false,
    };
    for fd in [in_w, master] {
        if fd >= 0 {
            let _ = sys::set_nonblock(fd);
        }
    }
    if o.attach {
        m.add_client(ATTACH_FD);
    }
    let mut log = LogOut::open(&o);
    let ctx = Ctx {
        o: &o,
        args: &args,
        devnull,
    };
    let mut loggers = [Logger::new(b"stdout", 1), Logger::new(b"stderr", 2)];
    let mut line: Buf<LINE_CAP> = Buf::new();
    let mut buf = [0u8; 32 * 1024];
    let mut exit: Option<i32> = None;
    let mut deadline: u64 = 0;
    let mut health_pid = 0;
    // While the container is starting in its start period the check runs
    // every start interval (docker ≥ 25), then every interval.
    let start_ms = if o.health_start_ms > 0 {
        o.health_start_ms
    } else {
        o.health_ms
    };
    let mut next_health = if o.health_ms > 0 {
        sys::monotonic_ms() + start_ms
    } else {
        0
    };
    loop {
        let mut pfd = [PollFd::new(-1, 0); 5 + MAX_CLIENTS];
        pfd[0] = PollFd::new(sfd, sys::POLLIN);
        pfd[1] = PollFd::new(listen, sys::POLLIN);
        pfd[2] = PollFd::new(out_r, sys::POLLIN);
        pfd[3] = PollFd::new(err_r, sys::POLLIN);
        // Clients are read only when their last input is taken.
        if m.plen == 0 {
            for (k, c) in m.clients.iter().enumerate() {
                if let Some(c) = c {
                    pfd[4 + k] = PollFd::new(c.fd, sys::POLLIN);
                }
            }
        } else {
            pfd[4 + MAX_CLIENTS] = PollFd::new(m.input_fd(), sys::POLLOUT);
        }
        let now = sys::monotonic_ms();
        let mut timeout: i64 = -1;
        if exit.is_some() {
            timeout = deadline.saturating_sub(now) as i64;
        } else if next_health > 0 && health_pid == 0 {
            timeout = next_health.saturating_sub(now) as i64;
        }
        let _ = sys::poll(&mut pfd, timeout.min(i32::MAX as i64) as i32);
        // Output.
        for (k, fd) in [(0usize, out_r), (1usize, err_r)] {
            if fd < 0 || pfd[2 + k].revents == 0 {
                continue;
            }
            match sys::read(fd, &mut buf) {
                Ok(n) if n > 0 => {
                    loggers[k].feed(&buf[..n], &mut log, &mut line, &ctx);
                    m.broadcast(k as u8 + 1, &buf[..n]);
                }
                Err(sys::Errno(sys::EINTR)) | Err(sys::Errno(sys::EAGAIN)) => {}
                _ => {
                    // EOF, or EIO from a pty whose last slave closed.
                    loggers[k].emit(&mut log, &mut line, &ctx);
                    if fd == master {
                        m.master = -1;
                    }
                    sys::close(fd);
                    if k == 0 {
                        out_r = -1;
                    } else {
                        err_r = -1;
                    }
                }
            }
        }
        // New clients.
        if pfd[1].revents != 0 {
            if let Ok(c) = sys::accept4(listen, sys::SOCK_CLOEXEC) {
                m.add_client(c);
            }
        }
        if pfd[4 + MAX_CLIENTS].fd >= 0 && pfd[4 + MAX_CLIENTS].revents != 0 {
            m.flush_input();
        }
        // Client input.
        for k in 0..MAX_CLIENTS {
            let Some(c) = m.clients[k] else { continue };
            // One client's input at a time while the container is slow.
            if pfd[4 + k].fd != c.fd || pfd[4 + k].revents == 0 || m.plen > 0 {
                continue;
            }
            let mut cb = [0u8; 4096];
            match sys::read(c.fd, &mut cb) {
                Ok(n) if n > 0 => {
                    m.client_input(k, &cb[..n]);
                    m.flush_input();
                }
                Err(sys::Errno(sys::EINTR)) | Err(sys::Errno(sys::EAGAIN)) => {}
                _ => {
                    sys::close(c.fd);
                    m.clients[k] = None;
                }
            }
        }
        // Children: the init, healthchecks, orphans.
        if pfd[0].revents != 0 {
            while sys::read_signal(sfd).is_some() {}
        }
        while let Ok(Some((p, st))) = sys::wait4(-1, sys::WNOHANG) {
            if p == pid && exit.is_none() {
                exit = Some(sys::exit_code(st));
                // Whatever still holds the pipes gets a moment to finish.
                deadline = sys::monotonic_ms() + 2000;
                m.close_stdin();
            } else if p == log.compress_pid {
                log.compress_pid = 0;
            } else if p == health_pid {
                health_pid = 0;
                let every = if sys::exit_code(st) == HEALTH_STARTING_EXIT {
                    start_ms
                } else {
                    o.health_ms
                };
                next_health = sys::monotonic_ms() + every;
            }
        }
        if exit.is_none()
            && next_health > 0
            && health_pid == 0
            && sys::monotonic_ms() >= next_health
        {
            health_pid = spawn_helper(
                &o,
                &args,
                c"healthcheck",
                &[],
                [-1, -1, -1, -1, -1],
                devnull,
            )
            .unwrap_or(0);
            if health_pid == 0 {
                next_health = sys::monotonic_ms() + o.health_ms;
            }
        }
        if exit.is_some() && ((out_r < 0 && err_r < 0) || sys::monotonic_ms() >= deadline) {
            break;
        }
    }
    let code = exit.unwrap_or(255);
    for l in loggers.iter_mut() {
        l.emit(&mut log, &mut line, &ctx);
    }
    if log.fd >= 0 {
        sys::close(log.fd);
    }
    // A `--rm` cleanup removes the directory the compressor writes in, and
    // its work with it: stopped, not waited for (`run --rm` returns without
    // it, as docker's). Another container's rotated file is compressed
    // whole before its exit is recorded (a start could rotate again).
    if o.volatile && log.compress_pid > 0 {
        let _ = sys::kill(log.compress_pid, sys::SIGKILL);
    }
    log.wait_compressor();
    sys::close(listen);
    let _ = sys::unlinkat(dirfd, c"attach", 0);
    write_exit(&o, dirfd, code);

    // The exit command: berth records the exit, tears down, restarts or
    // removes, then tells the clients the exit code.
    let mut nums: [Buf<16>; MAX_CLIENTS] = [const { Buf::new() }; MAX_CLIENTS];
    let mut extra: [*const u8; 2 * MAX_CLIENTS] = [core::ptr::null(); 2 * MAX_CLIENTS];
    let mut n = 0;
    for (k, c) in m.clients.iter().enumerate() {
        if let Some(c) = c {
            let _ = sys::set_cloexec(c.fd, false);
            nums[k].push_u64(c.fd as u64);
            nums[k].as_cstr();
            extra[n] = c"--notify".as_ptr() as *const u8;
            extra[n + 1] = nums[k].as_bytes().as_ptr();
            n += 2;
        }
    }
    let mut argv: [*const u8; 10 + 2 * MAX_CLIENTS] = [core::ptr::null(); 10 + 2 * MAX_CLIENTS];
    let fixed: [&CStr; 8] = [
        c"berth",
        c"internal",
        c"cleanup",
        c"--root",
        o.root,
        c"--run-root",
        o.run_root,
        o.id,
    ];
    for (k, f) in fixed.iter().enumerate() {
        argv[k] = f.as_ptr() as *const u8;
    }
    argv[8..8 + n].copy_from_slice(&extra[..n]);
    let _ = sys::sigprocmask(sys::SIG_SETMASK, 0);
    let _ = sys::execve(o.exe, &argv[..=8 + n], args.envp_slice());
    1
}

/// `<dir>/exit`: `{"ExitCode":N,"FinishedAt":"..."}`, written atomically.
fn write_exit(o: &Opts, dirfd: i32, code: i32) {
    let (s, n) = sys::clock_gettime(sys::CLOCK_REALTIME);
    let mut t = [0u8; 30];
    let mut b: Buf<128> = Buf::new();
    b.push(b"{\"ExitCode\":")
        .push_i64(code as i64)
        .push(b",\"FinishedAt\":\"")
        .push(rfc3339_nano(s, n, &mut t))
        .push(b"\"}\n");
    let mut tmp = path_in(o.dir, b"exit.tmp");
    let Ok(fd) = sys::open(
        tmp.as_cstr(),
        sys::O_WRONLY | sys::O_CREAT | sys::O_TRUNC,
        0o644,
    ) else {
        return;
    };
    // A `--rm` container's records are not made durable (it is removed next).
    let ok = sys::write_all(fd, b.as_bytes()).is_ok() && (o.volatile || sys::fsync(fd).is_ok());
    sys::close(fd);
    if ok && sys::renameat(dirfd, c"exit.tmp", dirfd, c"exit").is_ok() && !o.volatile {
        let mut d = Buf::<4096>::new();
        d.push(o.dir.to_bytes());
        if let Ok(dfd) = sys::open(d.as_cstr(), sys::O_RDONLY | sys::O_DIRECTORY, 0) {
            let _ = sys::fsync(dfd);
            sys::close(dfd);
        }
    }
}
