// A JS Hypercore reader that knows only a core's key: it connects to a
// replication peer over TCP (node read-core.js KEY HOST:PORT), downloads
// every block (hypercore verifies each proof and the writer's signature on
// arrival), reads them back and prints JSON: length, byte_length,
// tree_hash, sha256 of all blocks in order, and how many blocks arrived
// from the peer. Exits non-zero on any failure or after --timeout seconds.
const Hypercore = require('hypercore')
const net = require('net')
const b4a = require('b4a')
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')

const args = process.argv.slice(2)
const opt = (name, dflt) => { const i = args.indexOf('--' + name); return i >= 0 ? args[i + 1] : dflt }
const [keyHex, addr] = args
const timeout = Number(opt('timeout', 120))
if (!keyHex || !addr) { console.error('usage: node read-core.js KEY HOST:PORT [--timeout S]'); process.exit(2) }
setTimeout(() => { console.error('read-core: timed out'); process.exit(3) }, timeout * 1000).unref()

;(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-read-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  const core = new Hypercore(dir, b4a.from(keyHex, 'hex'))
  await core.ready()
  let downloaded = 0
  core.on('download', () => { downloaded++ })
  const [host, port] = addr.split(':')
  const sock = net.connect(Number(port), host)
  const stream = core.replicate(true)
  let finished = false
  stream.on('error', (e) => { if (!finished) console.error('read-core: stream error:', e.message) })
  sock.on('error', (e) => { if (!finished) console.error('read-core: socket error:', e.message) })
  sock.pipe(stream).pipe(sock)
  const started = process.hrtime.bigint()
  // update resolves at once when no peer has the core yet: poll, yielding
  // to the event loop so the timeout can fire.
  while (core.length === 0) {
    await core.update({ wait: true })
    if (core.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await core.download({ start: 0, end: core.length }).done()
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const h = crypto.createHash('sha256')
  let bytes = 0
  for (let i = 0; i < core.length; i++) {
    const b = await core.get(i, { wait: false })
    if (!b) throw new Error('block ' + i + ' missing after download')
    h.update(b)
    bytes += b.byteLength
  }
  const out = {
    length: core.length,
    byte_length: core.byteLength,
    bytes,
    tree_hash: b4a.toString(await core.treeHash(), 'hex'),
    sha256: h.digest('hex'),
    downloaded,
    seconds
  }
  console.log(JSON.stringify(out))
  finished = true
  sock.destroy()
  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
})().catch((e) => { console.error('read-core:', e); process.exit(1) })
