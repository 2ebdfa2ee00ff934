//! `start -a`, `attach` and docker's attach endpoint: an [`Attached`]
//! stream over the container's monitor.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::monitor::{self, Attached};
use crate::stream::StreamKind;
use crate::{sys, Engine};
use std::io::Write;

/// Docker's attach options (`POST /containers/{id}/attach` query).
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// Attach stdin (only if the container was created with it open).
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The live output (and the exit code at its end).
    pub stream: bool,
    /// The container's log so far, first.
    pub logs: bool,
    /// Docker's `--detach-keys` syntax (`None`: ctrl-p,ctrl-q).
    pub detach_keys: Option<String>,
}

impl Default for AttachOptions {
    /// `berth attach`: stdin, stdout, stderr, live.
    fn default() -> Self {
        AttachOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            stream: true,
            logs: false,
            detach_keys: None,
        }
    }
}

impl Engine {
    /// `start -a`: starts and attaches to the container's output (a
    /// running container is attached to); stdin with `-i` (docker's
    /// OpenStdin), closed at the caller's end (StdinOnce).
    pub fn start_attached(&self, container: &str) -> Result<Attached> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if st.running() {
            return self.attach(&id);
        }
        let c = self.load_config(&id)?;
        let cfg = &c.config;
        let (mine, theirs) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
        // docker's `run`/`start -a`: attach, then start.
        self.log_container(&c, "attach", &[]);
        self.start_inner(&id, Some(theirs))?;
        let mut a = Attached::new(
            self,
            id,
            Some(std::os::unix::net::UnixStream::from(mine)),
            cfg.tty,
        );
        a.stdin = cfg.open_stdin;
        Ok(a)
    }

    /// `attach`: connects to a running container's monitor (stdin if the
    /// container has it open; the caller's end does not close it).
    pub fn attach(&self, container: &str) -> Result<Attached> {
        self.attach_stream(container, &AttachOptions::default())
    }

    /// docker's attach: the streams asked for, the log first with `logs`,
    /// the live output with `stream` (a stopped container can give its
    /// log only).
    pub fn attach_stream(&self, container: &str, opts: &AttachOptions) -> Result<Attached> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if opts.stream && !st.running() {
            return Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        if opts.stream && st.status == Status::Paused {
            return Err(Error::Conflict(
                "You cannot attach to a paused container, unpause it first".into(),
            ));
        }
        let c = self.load_config(&id)?;
        let sock = if opts.stream {
            let s = monitor::connect(self, &id)?;
            self.log_container(&c, "attach", &[]);
            Some(s)
        } else {
            None
        };
        let a = Attached::new(self, id, sock, c.config.tty);
        self.attach_with(a, &c.config, opts)
    }

    /// docker's attach to a container that is not running yet, then its
    /// start (the API's `run`: attach, start, wait): starts it with the
    /// attach socket given to the monitor, so no output is lost. `None`
    /// (nothing done) when it already runs: attach to it then.
    pub fn start_attach_stream(
        &self,
        container: &str,
        opts: &AttachOptions,
    ) -> Result<Option<Attached>> {
        let id = self.lookup(container)?;
        if self.state(&id)?.running() {
            return Ok(None);
        }
        let c = self.load_config(&id)?;
        let (mine, theirs) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
        self.log_container(&c, "attach", &[]);
        self.start_inner(&id, Some(theirs))?;
        let sock = std::os::unix::net::UnixStream::from(mine);
        let a = Attached::new(self, id, Some(sock), c.config.tty);
        let opts = AttachOptions {
            stream: true,
            ..opts.clone()
        };
        self.attach_with(a, &c.config, &opts).map(Some)
    }

    /// docker's container resize: the size of the running container's
    /// pty (nothing without a tty), through its monitor.
    pub fn resize(&self, container: &str, rows: u16, cols: u16) -> Result<()> {
        let id = self.lookup(container)?;
        if !self.state(&id)?.running() {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        let c = self.load_config(&id)?;
        if !c.config.tty {
            return Ok(());
        }
        let sock = monitor::connect(self, &id)?;
        crate::stream::Resizer::monitor(sock).resize(rows, cols)?;
        let (h, w) = (rows.to_string(), cols.to_string());
        self.log_container(&c, "resize", &[("height", &h), ("width", &w)]);
        Ok(())
    }

    /// Applies docker's attach options: the streams, stdin (if the
    /// container has it open; its end ends the container's with
    /// StdinOnce), the detach keys, the log first with `logs`.
    fn attach_with(
        &self,
        mut a: Attached,
        cfg: &crate::container::Config,
        opts: &AttachOptions,
    ) -> Result<Attached> {
        a.stdin_once = cfg.stdin_once;
        a.stdin = opts.stdin && cfg.open_stdin && opts.stream;
        a.want = [opts.stdout, opts.stderr];
        a.set_detach_keys(opts.detach_keys.as_deref())?;
        if opts.logs && (opts.stdout || opts.stderr) {
            let q = Queue::default();
            let lo = crate::LogsOptions {
                stdout: opts.stdout,
                stderr: opts.stderr,
                ..Default::default()
            };
            let mut o = q.writer(StreamKind::Stdout);
            let mut e = q.writer(StreamKind::Stderr);
            self.logs(&a.id, &lo, &mut o, &mut e)?;
            drop((o, e));
            a.replay = q.0.take();
        }
        Ok(a)
    }
}

/// The log's chunks in order, from the two writers `logs` writes to.
#[derive(Default, Clone)]
struct Queue(std::rc::Rc<std::cell::RefCell<Chunks>>);

/// Output chunks in the order they were written.
type Chunks = std::collections::VecDeque<(StreamKind, Vec<u8>)>;

struct QueueWriter(Queue, StreamKind);

impl Queue {
    fn writer(&self, k: StreamKind) -> QueueWriter {
        QueueWriter(self.clone(), k)
    }
}

impl Write for QueueWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if !b.is_empty() {
            (self.0).0.borrow_mut().push_back((self.1, b.to_vec()));
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
