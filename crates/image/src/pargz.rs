//! Parallel gzip for layer blobs, pigz's scheme: the input is cut into
//! fixed 1 MiB chunks, each deflated on a worker thread with the 32 KiB
//! before it as its preset dictionary and ended with a sync flush (the
//! last with the final block), and the pieces are written in order behind
//! one gzip header, with the CRC-32 and size of the whole input as the
//! trailer. The result is one ordinary gzip member that any inflater reads,
//! compresses within a fraction of a percent of a single stream, and is the
//! same bytes whatever the number of threads: the chunking does not depend
//! on them or on how the input arrives, so a layer's digest is reproducible.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Uncompressed bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Deflate's window: the dictionary each chunk is primed with.
const DICT: usize = 32 << 10;
/// At most this many threads compress.
const MAX_THREADS: usize = 8;

/// gzip header: deflate, no flags, mtime 0, no extra flags, OS unknown
/// (what Go's and flate2's writers put for a stream without a name).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

struct Job {
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
    done: SyncSender<io::Result<Vec<u8>>>,
}

/// A `Write` that gzips what it is given into `W` on several threads.
/// [`ParGzWriter::finish`] must be called to end the stream; `flush`
/// writes out the chunks already compressed but does not cut one short
/// (that would make the bytes depend on how the input was written).
pub struct ParGzWriter<W: Write> {
    inner: Option<W>,
    level: Compression,
    crc: Crc,
    buf: Vec<u8>,
    /// The last `DICT` bytes of the previous chunk.
    dict: Vec<u8>,
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    max_pending: usize,
    /// Threads to start with the first full chunk (a layer under 1 MiB
    /// is compressed on the caller's thread, no thread started).
    threads: usize,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    header_written: bool,
}

impl<W: Write> ParGzWriter<W> {
    /// A writer on as many threads as the machine has cores (at most 8).
    pub fn new(inner: W, level: Compression) -> Self {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_THREADS);
        Self::with_threads(inner, level, n)
    }

    /// A writer on `threads` threads; with 1 the chunks are compressed on
    /// the caller's thread (the same bytes either way).
    pub fn with_threads(inner: W, level: Compression, threads: usize) -> Self {
        ParGzWriter {
            inner: Some(inner),
            level,
            crc: Crc::new(),
            buf: Vec::with_capacity(CHUNK),
            dict: Vec::new(),
            pending: VecDeque::new(),
            max_pending: 2 * threads.max(1),
            threads,
            jobs: None,
            workers: Vec::new(),
            header_written: false,
        }
    }

    /// Starts the workers (once; see `threads`).
    fn start_workers(&mut self) {
        let (threads, level) = (self.threads, self.level);
        if threads > 1 {
            let (tx, rx) = mpsc::sync_channel::<Job>(threads);
            let rx = Arc::new(Mutex::new(rx));
            for _ in 0..threads {
                let rx = Arc::clone(&rx);
                let worker =
                    std::thread::Builder::new()
                        .name("berth-gzip".into())
                        .spawn(move || loop {
                            // A poisoned lock means another worker panicked: stop.
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(job) = job else { return };
                            let out = deflate_chunk(level, &job.dict, &job.data, job.last);
                            let _ = job.done.send(out);
                        });
                // Out of threads (a pids limit): those started do the work,
                // or the caller's own thread when none could be; the bytes
                // are the same.
                match worker {
                    Ok(h) => self.workers.push(h),
                    Err(_) => break,
                }
            }
            if !self.workers.is_empty() {
                self.jobs = Some(tx);
            }
        }
        self.threads = 1;
    }

    /// The writer inside (for its path, say).
    pub fn get_ref(&self) -> &W {
        self.inner.as_ref().expect("ParGzWriter used after finish")
    }

    fn inner(&mut self) -> &mut W {
        self.inner.as_mut().expect("ParGzWriter used after finish")
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            let mut h = HEADER;
            // XFL: 2 for the slowest level, 4 for the fastest, as gzip says.
            h[8] = match self.level.level() {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            self.inner().write_all(&h)?;
        }
        Ok(())
    }

    /// Hand the buffered chunk to a worker (or compress it here).
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        if !last && self.threads > 1 {
            self.start_workers();
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let dict = std::mem::take(&mut self.dict);
        self.dict = data[data.len().saturating_sub(DICT)..].to_vec();
        let (tx, rx) = mpsc::sync_channel(1);
        match &self.jobs {
            Some(jobs) => {
                let job = Job {
                    dict,
                    data,
                    last,
                    done: tx,
                };
                jobs.send(job)
                    .map_err(|_| io::Error::other("gzip worker threads are gone"))?;
            }
            None => {
                let _ = tx.send(deflate_chunk(self.level, &dict, &data, last));
            }
        }
        self.pending.push_back(rx);
        while self.pending.len() >= self.max_pending {
            self.write_one()?;
        }
        Ok(())
    }

    /// Write out the oldest pending chunk, waiting for it.
    fn write_one(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let out = rx
                .recv()
                .map_err(|_| io::Error::other("a gzip worker thread died"))??;
            self.inner().write_all(&out)?;
        }
        Ok(())
    }

    /// End the stream (last chunk, trailer) and give back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.write_one()?;
        }
        let crc = self.crc.sum();
        let size = self.crc.amount();
        let inner = self.inner();
        inner.write_all(&crc.to_le_bytes())?;
        inner.write_all(&size.to_le_bytes())?;
        inner.flush()?;
        self.stop_workers();
        Ok(self.inner.take().expect("ParGzWriter used after finish"))
    }

    fn stop_workers(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        self.crc.update(data);
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.dispatch(false)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        while let Some(rx) = self.pending.front() {
            match rx.try_recv() {
                Ok(out) => {
                    self.pending.pop_front();
                    self.inner().write_all(&out?)?;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(io::Error::other("a gzip worker thread died"))
                }
            }
        }
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for ParGzWriter<W> {
    fn drop(&mut self) {
        self.pending.clear();
        self.stop_workers();
    }
}

/// Raw deflate of one chunk primed with `dict`; a sync flush ends it
/// (byte-aligned, so the pieces concatenate), the final block the last.
fn deflate_chunk(level: Compression, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once all input is taken and the
            // output was not filled (zlib's avail_out != 0 rule).
            _ if !last && c.total_in() as usize == data.len() && out.len() < out.capacity() => {
                break
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(z: &[u8]) -> Vec<u8> {
        let mut d = flate2::read::GzDecoder::new(z);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        // One member, nothing after it.
        assert!(d.into_inner().is_empty());
        out
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn text(n: usize) -> Vec<u8> {
        let words = ["layer ", "tar ", "whiteout ", "overlay ", "berth ", "\n"];
        let r = pseudo_random(n, 7);
        let mut out = Vec::with_capacity(n + 16);
        let mut i = 0;
        while out.len() < n {
            out.extend_from_slice(words[r[i % n] as usize % words.len()].as_bytes());
            i += 1;
        }
        out.truncate(n);
        out
    }

    fn gz(data: &[u8], threads: usize, write_size: usize) -> Vec<u8> {
        let mut w = ParGzWriter::with_threads(Vec::new(), Compression::default(), threads);
        for piece in data.chunks(write_size.max(1)) {
            w.write_all(piece).unwrap();
            w.flush().unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_at_every_chunk_edge() {
        for n in [0, 1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345] {
            for data in [text(n), pseudo_random(n, n as u64 + 3)] {
                let z = gz(&data, 2, 70_000);
                assert_eq!(gunzip(&z), data, "size {n}");
            }
        }
    }

    #[test]
    fn the_bytes_do_not_depend_on_threads_or_write_sizes() {
        let data = text(4 * CHUNK + 999);
        let one = gz(&data, 1, data.len());
        assert_eq!(gz(&data, 2, 4096), one);
        assert_eq!(gz(&data, 5, 1 << 20), one);
    }

    #[test]
    fn compresses_about_as_well_as_one_stream() {
        let data = text(6 * CHUNK);
        let par = gz(&data, 2, 1 << 16);
        let mut single = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap();
        // The dictionary carries the window over the cut: within 1%.
        assert!(
            par.len() * 100 <= single.len() * 101,
            "{} against {}",
            par.len(),
            single.len()
        );
    }

    #[test]
    fn gzip_itself_reads_it() {
        let data = text(2 * CHUNK + 5);
        let z = gz(&data, 2, 1 << 15);
        let dir = std::env::temp_dir().join(format!("pargz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.gz");
        std::fs::write(&f, &z).unwrap();
        let st = std::process::Command::new("gzip")
            .arg("-t")
            .arg(&f)
            .status();
        let _ = std::fs::remove_dir_all(&dir);
        // gzip is an essential package on Debian: its absence is a failure
        assert!(st.expect("run gzip -t").success());
    }
}
