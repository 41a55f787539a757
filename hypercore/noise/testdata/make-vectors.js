// Makes Noise XX handshake vectors with the real JS stack (noise-handshake +
// noise-curve-ed, as @hyperswarm/secret-stream uses them): fixed static and
// ephemeral key seeds, the three messages (with payloads), and the split
// keys and handshake hash of both sides.
// NODE_PATH=build/hypercore-js/node_modules node make-vectors.js > vectors.json
const Noise = require('noise-handshake')
const curve = require('noise-curve-ed')
const b4a = require('b4a')

const hex = (b) => b4a.toString(b, 'hex')
const seed = (n) => b4a.alloc(32, n)

function run (i, payloads) {
  const is = curve.generateKeyPair(seed(10 * i + 1))
  const rs = curve.generateKeyPair(seed(10 * i + 2))
  const ie = curve.generateKeyPair(seed(10 * i + 3))
  const re = curve.generateKeyPair(seed(10 * i + 4))
  const a = new Noise('XX', true, is, { curve })
  const b = new Noise('XX', false, rs, { curve })
  a.initialise(b4a.alloc(0))
  b.initialise(b4a.alloc(0))
  a.e = ie
  b.e = re
  // hex right away: the library zeroes the ephemeral key buffers when done
  const m1 = a.send(payloads[0])
  const h1 = hex(m1)
  b.recv(m1)
  const m2 = b.send(payloads[1])
  const h2 = hex(m2)
  a.recv(m2)
  const m3 = a.send(payloads[2])
  const h3 = hex(m3)
  b.recv(m3)
  return {
    initiator_static_seed: hex(seed(10 * i + 1)),
    responder_static_seed: hex(seed(10 * i + 2)),
    initiator_ephemeral_seed: hex(seed(10 * i + 3)),
    responder_ephemeral_seed: hex(seed(10 * i + 4)),
    payloads: payloads.map(hex),
    messages: [h1, h2, h3],
    initiator: { tx: hex(a.tx), rx: hex(a.rx), hash: hex(a.hash), remote: hex(a.rs) },
    responder: { tx: hex(b.tx), rx: hex(b.rx), hash: hex(b.hash), remote: hex(b.rs) }
  }
}

const empty = b4a.alloc(0)
const out = [
  run(1, [empty, empty, empty]),
  run(2, [b4a.from('hello'), b4a.from('from the responder'), b4a.alloc(300, 7)])
]
console.log(JSON.stringify(out, null, 1))
