// A JS Hypercore writer that appends a file in 64 KiB blocks and serves the
// core over loopback TCP: node serve-file.js FILE [PORT] [--compat] (a
// compat core: key = the writer's public key). Prints "serving KEY on
// PORT" once ready.
const Hypercore = require('hypercore')
const net = require('net')
const b4a = require('b4a')
const fs = require('fs')
const os = require('os')
const path = require('path')

const args = process.argv.slice(2)
const compat = args.includes('--compat')
const [file, portArg] = args.filter((a) => a !== '--compat')
if (!file) { console.error('usage: node serve-file.js FILE [PORT]'); process.exit(2) }

;(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-serve-file-'))
  const core = new Hypercore(dir, compat ? { compat: true } : {})
  await core.ready()
  const fd = fs.openSync(file, 'r')
  const B = 65536
  for (;;) {
    const batch = []
    for (let i = 0; i < 64; i++) {
      const buf = b4a.allocUnsafe(B)
      const n = fs.readSync(fd, buf, 0, B, null)
      if (n === 0) break
      batch.push(buf.subarray(0, n))
    }
    if (batch.length === 0) break
    await core.append(batch)
  }
  fs.closeSync(fd)
  const server = net.createServer((sock) => {
    const s = core.replicate(false)
    s.on('error', () => {})
    sock.on('error', () => {})
    sock.pipe(s).pipe(sock)
  })
  const cleanup = () => { fs.rmSync(dir, { recursive: true, force: true }); process.exit(0) }
  process.on('SIGTERM', cleanup)
  process.on('SIGINT', cleanup)
  server.listen(Number(portArg || 0), '127.0.0.1', () => console.log('serving', b4a.toString(core.key, 'hex'), 'on', server.address().port))
})().catch((e) => { console.error(e); process.exit(1) })
