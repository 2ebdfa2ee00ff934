//! `create` and `run`: the container's record, spec, rootfs and volumes.

use crate::container::Container;
use crate::error::{Context, Error, Result};
use crate::fssys::is_mount_point as is_mounted;
use crate::fsutil::{self, Durability};
use crate::monitor::Attached;
use crate::options::CreateOptions;
use crate::spec::{self, SpecContext};
use crate::store::CreateGuard;
use crate::user::LayerView;
use crate::{sys, timeutil, Engine};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::Path;

impl Engine {
    /// `--pid container:NAME` and `--ipc container:NAME`: the running
    /// container's namespaces (docker's rules: it must run; an IPC donor
    /// must be `shareable` or in the host's, and its /dev/shm is shared).
    fn join_namespaces(&self, opts: &CreateOptions, spec: &mut Spec) -> Result<()> {
        use crate::options::NamespaceMode;
        for (kind, what, mode) in [
            (LinuxNamespaceType::Pid, "PID", &opts.pid_mode),
            (LinuxNamespaceType::Ipc, "IPC", &opts.ipc_mode),
        ] {
            let NamespaceMode::Container(name) = mode else {
                continue;
            };
            let id = self.lookup(name)?;
            let st = self.state(&id)?;
            if !st.running() || st.pid <= 0 {
                return Err(Error::Conflict(format!(
                    "cannot join {what} of a non running container: {name}"
                )));
            }
            if kind == LinuxNamespaceType::Ipc {
                let donor = self.load_config(&id)?;
                if !matches!(
                    donor.options.ipc_mode,
                    NamespaceMode::Shareable | NamespaceMode::Host
                ) {
                    return Err(Error::Conflict(format!(
                        "cannot join IPC of container {name}: non-shareable IPC (hint: use --ipc shareable for the donor container)"
                    )));
                }
                let shm = match donor.options.ipc_mode {
                    NamespaceMode::Host => std::path::PathBuf::from("/dev/shm"),
                    _ => self.shm_path(&id),
                };
                let opts = ["rbind", "rprivate", "nosuid", "nodev", "noexec"];
                let m = spec::mount("/dev/shm", "bind", shm, opts.map(String::from).to_vec())?;
                spec::replace_mount(spec, m);
            }
            let file = if kind == LinuxNamespaceType::Pid {
                "pid"
            } else {
                "ipc"
            };
            let path = format!("/proc/{}/ns/{file}", st.pid);
            spec::set_namespace_path(spec, kind, Path::new(&path));
        }
        Ok(())
    }

    /// `--link`: each container must exist, and the network mode be a
    /// bridge (docker's "conflicting options: host type networking can't
    /// be used with links"). Returns (the child's name, alias) pairs.
    fn check_links(
        &self,
        opts: &CreateOptions,
        mode: &crate::network::Mode,
    ) -> Result<Vec<(String, String)>> {
        if opts.links.is_empty() {
            return Ok(Vec::new());
        }
        if !matches!(mode, crate::network::Mode::Bridge(_)) {
            return Err(Error::invalid(format!(
                "conflicting options: {} type networking can't be used with links",
                mode.name()
            )));
        }
        let mut out = Vec::new();
        for l in &opts.links {
            let id = self.lookup(&l.container).map_err(|_| {
                Error::invalid(format!(
                    "invalid --link {:?}: could not get container for {}",
                    format!("{}:{}", l.container, l.alias),
                    l.container
                ))
            })?;
            let c = self.load_config(&id)?;
            out.push((c.name, l.alias.clone()));
        }
        Ok(out)
    }

    /// `--volumes-from`, as docker's registerMountPoints: each source
    /// container (it must exist) lends its volumes and binds at their
    /// destinations (its tmpfs stays its own), read-only when the source's
    /// is or with `:ro`; a volume is not filled again from this image. A
    /// later source wins over an earlier one on the same destination; the
    /// container's own mounts win over all (see `spec::generate`).
    fn volumes_from_mounts(&self, opts: &CreateOptions) -> Result<Vec<crate::volumes::Mount>> {
        use crate::volumes::{BindMount, Mount, Propagation, VolumeMount};
        let mut out: Vec<Mount> = Vec::new();
        for vf in &opts.volumes_from {
            let (c, _) = self
                .container(&vf.container)
                .map_err(|e| Error::flag("--volumes-from", &vf.to_string(), e))?;
            for mp in &c.mounts {
                let read_only = !mp.rw || vf.read_only;
                let m = match mp.kind.as_str() {
                    "volume" => Mount::Volume(VolumeMount {
                        name: Some(mp.name.clone()),
                        target: mp.destination.clone(),
                        read_only,
                        no_copy: true,
                        mode: "nocopy".into(),
                        ..Default::default()
                    }),
                    "bind" => Mount::Bind(BindMount {
                        source: mp.source.clone(),
                        target: mp.destination.clone(),
                        read_only,
                        propagation: Propagation::parse(&mp.propagation).unwrap_or_default(),
                        ..Default::default()
                    }),
                    _ => continue,
                };
                out.retain(|o| o.target() != m.target());
                out.push(m);
            }
        }
        Ok(out)
    }

    /// `create`: records a new container; returns its id.
    pub fn create(&self, opts: &CreateOptions) -> Result<String> {
        self.create_guarded(opts).map(|(id, _)| id)
    }

    /// `create`, the container marked as being created (never pruned) until
    /// the guard is dropped.
    fn create_guarded(&self, opts: &CreateOptions) -> Result<(String, CreateGuard)> {
        if opts.image.is_empty() {
            return Err(Error::invalid("an image is required"));
        }
        // In another container's network namespace, its hostname (docker's
        // initializeNetworking); a hostname of one's own conflicts.
        let joined;
        let opts = match crate::network::Mode::parse(opts.network_mode.as_deref()) {
            crate::network::Mode::Container(donor) => {
                if opts.hostname.is_some() {
                    return Err(Error::invalid(
                        "conflicting options: hostname and the network mode",
                    ));
                }
                let donor = self.load_config(&self.lookup(&donor)?)?;
                let mut o = opts.clone();
                o.hostname = Some(donor.config.hostname);
                joined = o;
                &joined
            }
            _ => opts,
        };
        // A lease from resolving the image until the record is written:
        // `rmi` and `image prune` decide under the exclusive GC lock that
        // an image is unused, and GC keeps the layers of the containers it
        // sees; neither runs in between.
        let lease = self.images.lease()?;
        let info = self.images.resolve(&opts.image)?;
        let image_cfg = self.images.config(&info.record)?;
        let cc = image_cfg.config.clone().unwrap_or_default();
        let lowers = self.images.prepare_rootfs(&info.record)?;
        let id = fsutil::random_id()?;
        let dir = self.container_dir(&id);
        let view = LayerView {
            lowers: lowers.clone(),
        };
        let rootfs = dir.join("rootfs");
        let userdata = dir.join("userdata");
        let volumes_from = self.volumes_from_mounts(opts)?;
        let ctx = SpecContext {
            id: &id,
            rootfs: &rootfs,
            userdata: &userdata,
            shm: &self.shm_path(&id),
            layers: &view,
            host_resolv_conf: Path::new("/etc/resolv.conf"),
            host_hosts: Path::new("/etc/hosts"),
            volumes_dir: &self.volumes_dir(),
            volumes_from: &volumes_from,
        };
        let mut gen = spec::generate(opts, &cc, &ctx)?;
        let net = crate::network::prepare(self, opts, &id)?;
        crate::network::apply_to_spec(&net, &mut gen.spec);
        gen.container.host_config.network_mode = net.mode.name();
        self.join_namespaces(opts, &mut gen.spec)?;
        let links = self.check_links(opts, &net.mode)?;
        if opts.init {
            crate::init::apply(&mut gen.spec, self.init_exe())?;
            gen.container.host_config.init = Some(true);
        }
        crate::health::apply(opts.healthcheck.as_ref(), &cc, &mut gen.container)?;
        // As docker's -v: a missing host directory is created.
        for m in gen.container.mounts.iter().filter(|m| m.kind == "bind") {
            let p = Path::new(&m.source);
            if !p.exists() {
                std::fs::create_dir_all(p).map_err(|e| {
                    Error::flag(
                        "--volume",
                        &m.source,
                        format!("cannot create the source: {e}"),
                    )
                })?;
            }
        }
        let _l = self.lock_store()?;
        // Volumes are removed under the store lock too: the ones
        // `--volumes-from` lent are checked again under it (`rm -v` of the
        // source in between would otherwise have them made anew, empty).
        for m in &volumes_from {
            if let crate::volumes::Mount::Volume(v) = m {
                if let Some(n) = &v.name {
                    if self.load_volume(n)?.is_none() {
                        return Err(Error::flag(
                            "--volumes-from",
                            n,
                            "the volume was removed meanwhile",
                        ));
                    }
                }
            }
        }
        // Networks are removed under the store lock: the one prepared above
        // is checked again under it (from here on the container record
        // keeps `network rm` and `prune` away, see `prune_networks`).
        if let crate::network::Mode::Bridge(n) = &net.mode {
            if n != crate::network::DEFAULT_NETWORK {
                crate::network::manager(self)
                    .get(n)
                    .map_err(|e| Error::msg(e.to_string()))?;
            }
        }
        let durability = fsutil::container_durability(gen.container.host_config.auto_remove);
        let name = self.reserve_name(opts.name.as_deref(), &id, durability)?;
        let mut c = gen.container.clone();
        c.id = id.clone();
        c.name = name.clone();
        c.created = timeutil::now();
        c.image_ref = opts.image.clone();
        c.image = info.record.id.to_string();
        c.lowers = lowers;
        c.host_config.links = (!links.is_empty()).then(|| {
            links
                .iter()
                .map(|(child, alias)| format!("/{child}:/{name}/{alias}"))
                .collect()
        });
        let mut guard = None;
        let r = (|| -> Result<()> {
            for d in ["", "upper", "work", "rootfs", "userdata", "bundle"] {
                let p = if d.is_empty() {
                    dir.clone()
                } else {
                    dir.join(d)
                };
                std::fs::create_dir(&p).ctx(|| format!("cannot create {}", p.display()))?;
                if d.is_empty() {
                    guard = Some(self.creating(&id)?);
                }
                if d.is_empty() && durability == Durability::Atomic {
                    let v = dir.join(crate::store::VOLATILE);
                    std::fs::write(&v, image::boot_id())
                        .ctx(|| format!("cannot create {}", v.display()))?;
                }
            }
            // Made again from the records should they be lost: as docker,
            // written without fsync.
            for (f, data) in [
                ("hosts", &gen.hosts),
                ("hostname", &gen.hostname),
                ("resolv.conf", &gen.resolv_conf),
            ] {
                fsutil::write_atomic_with(&userdata.join(f), data.as_bytes(), Durability::Atomic)?;
            }
            fsutil::write_json_with(&dir.join("bundle/config.json"), &gen.spec, durability)?;
            // (No state.json yet: a missing one reads as the created state.)
            self.ensure_volumes(&c, &gen.mount_specs)?;
            // Last: its presence makes the container exist.
            self.save_config(&c)
        })();
        let guard = match (r, guard) {
            (Ok(()), Some(g)) => g,
            (r, _) => {
                let _ = std::fs::remove_dir_all(&dir);
                if let Ok(mut names) = self.load_names() {
                    names.remove(&name);
                    let _ = self.save_names_with(&names, durability);
                }
                drop(_l);
                drop(lease);
                let _ = self.remove_anonymous_volumes(&c.mounts);
                return Err(r.err().unwrap_or_else(|| Error::msg("create: no lock")));
            }
        };
        drop(_l);
        drop(lease);
        // New volumes are filled from the image now, as docker does.
        if let Err(e) = self.fill_volumes(&c) {
            let _ = self.remove_auto(&c);
            return Err(e);
        }
        self.log_container(&c, "create", &[]);
        Ok((id, guard))
    }

    /// A shareable IPC container's /dev/shm on the host side.
    pub(crate) fn shm_path(&self, id: &str) -> std::path::PathBuf {
        self.container_dir(id).join("shm")
    }

    /// At start, for `--ipc shareable`: the tmpfs behind its /dev/shm
    /// (`--shm-size`), which containers joining its IPC namespace share.
    pub(crate) fn mount_shareable_shm(&self, c: &Container) -> Result<()> {
        if c.options.ipc_mode != crate::options::NamespaceMode::Shareable {
            return Ok(());
        }
        let p = self.shm_path(&c.id);
        if crate::fssys::is_mount_point(&p) {
            return Ok(());
        }
        std::fs::create_dir_all(&p).ctx(|| format!("cannot create {}", p.display()))?;
        let o = format!("mode=1777,size={}", c.host_config.shm_size);
        crate::fssys::mount("shm", &p, "tmpfs", &o)
            .ctx(|| format!("cannot mount the shm tmpfs at {}", p.display()))
    }

    pub(crate) fn mount_rootfs(&self, c: &Container) -> Result<()> {
        let dir = self.container_dir(&c.id);
        let target = dir.join("rootfs");
        if is_mounted(&target) {
            sys::unmount(&target).ctx(|| format!("unmount {}", target.display()))?;
        }
        let upper = dir.join("upper");
        let work = dir.join("work");
        // Layers left stale by a restart of the machine are unpacked again.
        self.images.revalidate_lowers(&c.lowers)?;
        let opts = image::overlay_options(&c.lowers, Some(&upper), Some(&work))?;
        if c.host_config.auto_remove {
            // No sync of the host filesystem at unmount (it costs a syncfs of
            // everything dirty there). The kernel leaves a marker that
            // refuses a later volatile mount, as the upper directory may be
            // incomplete after a crash: within the boot that made the
            // container (recorded in its `volatile` file) it is not.
            let marker = work.join("work/incompat/volatile");
            if marker.exists() {
                let made =
                    std::fs::read_to_string(dir.join(crate::store::VOLATILE)).unwrap_or_default();
                if made.trim() != image::boot_id() {
                    return Err(Error::msg(format!(
                        "container {}: its filesystem did not survive the restart of the machine (--rm containers are volatile)",
                        fsutil::short_id(&c.id)
                    )));
                }
                std::fs::remove_dir_all(&marker)
                    .ctx(|| format!("cannot remove {}", marker.display()))?;
            }
            // Kernels before 5.10 do not know the option: mount as usual there.
            if sys::mount_overlay(&target, &format!("{opts},volatile")).is_ok() {
                return Ok(());
            }
        }
        sys::mount_overlay(&target, &opts)
            .ctx(|| format!("cannot mount the overlay at {}", target.display()))
    }

    /// `run` attached: create + start; read the output and exit code from
    /// the returned handle. A failed start of a `--rm` container removes it.
    /// (Not pruned before it runs.)
    pub fn run(&self, opts: &CreateOptions) -> Result<Attached> {
        let (id, _creating) = self.create_guarded(opts)?;
        self.start_attached(&id)
    }

    /// `run -d`: create + start; returns the id once the process runs
    /// (not pruned before).
    pub fn run_detached(&self, opts: &CreateOptions) -> Result<String> {
        let (id, _creating) = self.create_guarded(opts)?;
        self.start(&id)?;
        Ok(id)
    }
}
