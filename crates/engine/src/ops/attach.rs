//! `start -a` and `attach`: a connection to the container's monitor.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::monitor::{self, Attached};
use crate::{sys, Engine};

impl Engine {
    /// `start -a`: starts and attaches to the container's output (a
    /// running container is attached to).
    pub fn start_attached(&self, container: &str) -> Result<Attached> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if st.running() {
            return self.attach(&id);
        }
        let tty = self.load_config(&id)?.config.tty;
        let (mine, theirs) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
        self.start_inner(&id, Some(theirs))?;
        Ok(Attached {
            engine: self.clone(),
            id,
            sock: std::os::unix::net::UnixStream::from(mine),
            tty,
        })
    }

    /// `attach`: connects to a running container's monitor.
    pub fn attach(&self, container: &str) -> Result<Attached> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if !st.running() {
            return Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        if st.status == Status::Paused {
            return Err(Error::Conflict(
                "You cannot attach to a paused container, unpause it first".into(),
            ));
        }
        let tty = self.load_config(&id)?.config.tty;
        let sock = monitor::connect(self, &id)?;
        Ok(Attached {
            engine: self.clone(),
            id,
            sock,
            tty,
        })
    }
}
