# bench/api/proxy.py LISTEN UPSTREAM: a logging proxy between the docker CLI and an API
# socket (unix sockets both): one line per chunk, "<monotonic ms> c<connection> <dir> <bytes> <first line>",
# for bench/api/phases.py. Used for the breakdown in docs/PERFORMANCE.md (API section).
import asyncio, sys, time, os
listen, upstream = sys.argv[1], sys.argv[2]
T0 = [None]
conn_n = [0]
def ts():
    return time.monotonic()
def log(n, d, data):
    t = ts()
    first = data.split(b"\r\n", 1)[0][:200]
    if not (first.startswith((b"GET", b"POST", b"HEAD", b"DELETE", b"PUT", b"HTTP/"))):
        first = repr(data[:40]).encode()
    print(f"{t*1000:.2f} c{n} {d} {len(data)} {first.decode(errors='replace')}", flush=True)
async def pipe(r, w, n, d):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                print(f"{ts()*1000:.2f} c{n} {d} EOF", flush=True)
                try:
                    w.write_eof()
                except Exception:
                    pass
                return
            log(n, d, data)
            w.write(data); await w.drain()
    except Exception as e:
        print(f"{ts()*1000:.2f} c{n} {d} ERR {e}", flush=True)
async def handle(cr, cw):
    conn_n[0] += 1; n = conn_n[0]
    print(f"{ts()*1000:.2f} c{n} accept", flush=True)
    ur, uw = await asyncio.open_unix_connection(upstream)
    await asyncio.gather(pipe(cr, uw, n, ">"), pipe(ur, cw, n, "<"))
    cw.close(); uw.close()
async def main():
    if os.path.exists(listen): os.unlink(listen)
    srv = await asyncio.start_unix_server(handle, listen)
    async with srv: await srv.serve_forever()
asyncio.run(main())
