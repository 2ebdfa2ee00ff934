//! `logs`: the container's log, selected and followed, whatever its
//! driver (see [`crate::logs`]); and what the monitor is told to write.

use crate::container::Container;
use crate::error::Result;
use crate::logs::{self, LogsOptions};
use crate::Engine;
use std::io::Write;

impl Engine {
    /// `logs`: writes the selected entries of any readable driver; with
    /// `follow`, keeps going until the container stops.
    pub fn logs(
        &self,
        container: &str,
        opts: &LogsOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        self.logs_until(container, opts, out, err, &|| false)
    }

    /// [`Engine::logs`] whose following also ends once `stop` returns true
    /// (the API's client hung up while the container writes nothing); it
    /// is asked between two looks at the log.
    pub fn logs_until(
        &self,
        container: &str,
        opts: &LogsOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
        stop: &dyn Fn() -> bool,
    ) -> Result<()> {
        let id = self.lookup(container)?;
        let c = self.load_config(&id)?;
        let settings = logs::LogSettings::parse(&c.host_config.log_config)?;
        let src = logs::LogSource {
            driver: settings.driver,
            path: logs::log_file(&self.container_dir(&id), &id, settings.driver)
                .unwrap_or_default(),
            max_file: settings.max_file,
        };
        let mut running = || !stop() && self.state(&id).map(|s| s.running()).unwrap_or(false);
        logs::read_logs(&src, opts, out, err, &mut running)
    }

    /// The monitor's log flags for a container (driver, rotation,
    /// attributes).
    pub(crate) fn monitor_log_args(&self, c: &Container) -> Result<Vec<String>> {
        let s = logs::LogSettings::parse(&c.host_config.log_config)?;
        let attrs = s.attrs(
            &c.config.labels,
            &c.config.env,
            &logs::TagInfo {
                id: c.id.clone(),
                name: c.name.clone(),
                image_id: c.image.clone(),
                image_name: c.config.image.clone(),
            },
        )?;
        let path = logs::log_file(&self.container_dir(&c.id), &c.id, s.driver);
        logs::monitor_args(&s, path.as_deref(), &attrs)
    }
}
