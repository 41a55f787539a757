// Makes vectors for the hypercore/alpha channel with the real JS code
// (hypercore 11.37.1 lib/messages.js, compact-encoding, protomux 3.12.1):
//  - "messages": every wire message type encoded from sample values;
//  - "frames": what a JS Protomux writes when it opens the channel, is
//    opened by the remote, sends sync+range corked (one batch), a request
//    and a data message alone, and closes the channel.
// NODE_PATH=build/hypercore-js/node_modules node make-vectors.js > wire.json
const c = require('compact-encoding')
const m = require('hypercore/lib/messages')
const caps = require('hypercore/lib/caps')
const Protomux = require('protomux')
const { EventEmitter } = require('events')
const b4a = require('b4a')
const hex = (b) => b4a.toString(b, 'hex')

const node = (index, size, fill) => ({ index, size, hash: b4a.alloc(32, fill) })
const samples = {
  handshake: [{ seeks: true, capability: b4a.alloc(32, 9) }, { seeks: false, capability: b4a.alloc(32, 1) }],
  sync: [
    { fork: 0, length: 777, remoteLength: 0, canUpgrade: true, uploading: true, downloading: false, hasManifest: true, allowPush: false },
    { fork: 3, length: 70000, remoteLength: 65536, canUpgrade: false, uploading: false, downloading: true, hasManifest: false, allowPush: true }
  ],
  request: [
    { id: 1, fork: 0, block: null, hash: null, seek: null, upgrade: { start: 0, length: 777 }, manifest: true, priority: 0 },
    { id: 300, fork: 2, block: { index: 5, nodes: 3 }, hash: null, seek: null, upgrade: null, manifest: false, priority: 1 },
    { id: 70000, fork: 0, block: null, hash: { index: 11, nodes: 2 }, seek: { bytes: 123456, padding: 0 }, upgrade: { start: 4, length: 8 }, manifest: false, priority: 0 }
  ],
  cancel: [{ request: 42 }],
  data: [
    { request: 7, fork: 0, block: { index: 3, value: b4a.from('hello'), nodes: [node(4, 10, 1), node(1, 20, 2)] }, hash: null, seek: null, upgrade: { start: 0, length: 4, nodes: [node(3, 40, 3)], additionalNodes: [node(9, 5, 4)], signature: b4a.alloc(64, 5) }, manifest: null },
    { request: 8, fork: 1, block: null, hash: { index: 6, nodes: [node(6, 7, 6)] }, seek: { bytes: 99, nodes: [] }, upgrade: null, manifest: null }
  ],
  noData: [{ request: 9, reason: 0 }, { request: 10, reason: 2 }],
  want: [{ start: 0, length: 1024, any: false }, { start: 5, length: 1, any: true }],
  unwant: [{ start: 32768, length: 32768, any: false }],
  bitfield: [{ start: 0, bitfield: new Uint32Array([0xffffffff, 1, 0x80000000]) }],
  range: [{ drop: false, start: 0, length: 777 }, { drop: true, start: 12, length: 1 }],
  extension: [{ name: 'ext', message: b4a.from('payload') }]
}
const messages = []
for (const [type, list] of Object.entries(samples)) {
  for (const v of list) messages.push({ type, encoded: hex(c.encode(m.wire[type], v)) })
}

// A fake stream that records what protomux writes.
class Fake extends EventEmitter {
  constructor () { super(); this.writes = []; this.destroyed = false; this.userData = null }
  write (b) { this.writes.push(hex(b)); return true }
  pause () {} resume () {} end () {} destroy () {}
}
const s = new Fake()
const mux = new Protomux(s)
const dk = b4a.alloc(32, 0xdd)
const hs = { seeks: true, capability: b4a.alloc(32, 0xcc) }
const ch = mux.createChannel({
  protocol: 'hypercore/alpha',
  aliases: ['hypercore'],
  id: dk,
  handshake: m.wire.handshake,
  messages: ['sync', 'request', 'cancel', 'data', 'noData', 'want', 'unwant', 'bitfield', 'range', 'extension'].map((t) => ({ encoding: m.wire[t] })),
  onopen () {
    mux.cork()
    ch.messages[0].send(samples.sync[0])
    ch.messages[8].send(samples.range[0])
    mux.uncork()
    ch.messages[1].send(samples.request[1])
    ch.messages[3].send(samples.data[0])
    ch.close()
    const capKey = b4a.alloc(32, 0x42)
    const capHash = b4a.alloc(64, 0x17)
    const capability = {
      key: hex(capKey),
      handshake_hash: hex(capHash),
      initiator: hex(caps.replicate(true, capKey, capHash)),
      responder: hex(caps.replicate(false, capKey, capHash))
    }
    console.log(JSON.stringify({ messages, remoteOpen: hex(remoteOpen), frames: s.writes, capability }, null, 1))
  }
})
ch.open(hs)
// The remote opens the same channel with its id 1 and its own handshake.
const st = { start: 0, end: 0, buffer: null }
const remoteHs = { seeks: false, capability: b4a.alloc(32, 0xee) }
const remoteOpen = b4a.concat([b4a.from([0, 1, 1]), c.encode(c.string, 'hypercore/alpha'), c.encode(c.buffer, dk), c.encode(m.wire.handshake, remoteHs)])
void st
s.emit('data', remoteOpen)
