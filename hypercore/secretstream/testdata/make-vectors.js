// Makes libsodium crypto_secretstream_xchacha20poly1305 vectors with the real
// JS stack (sodium-universal → sodium-native, as sodium-secretstream uses it):
// a key, the random header init_push chose, and a run of messages of many
// lengths and tags (a REKEY tag in the middle) with their ciphertexts; and
// the stream ids of @hyperswarm/secret-stream for a fixed handshake hash.
// NODE_PATH=build/hypercore-js/node_modules node make-vectors.js > sodium.json
const sodium = require('sodium-universal')
const b4a = require('b4a')
const hex = (b) => b4a.toString(b, 'hex')

const key = b4a.alloc(32)
for (let i = 0; i < 32; i++) key[i] = i * 7 + 1
const state = b4a.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
const header = b4a.alloc(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key)

const M = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
const P = sodium.crypto_secretstream_xchacha20poly1305_TAG_PUSH
const R = sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY
const F = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
const tagByte = (t) => (b4a.isBuffer(t) ? t[0] : t)

const lengths = [0, 1, 15, 16, 17, 31, 32, 48, 63, 64, 65, 100, 1000, 4099, 3]
const tags = lengths.map((_, i) => (i === 7 ? R : i === 10 ? P : M))
tags.push(F)
lengths.push(5)
const messages = []
lengths.forEach((n, i) => {
  const m = b4a.alloc(n)
  for (let j = 0; j < n; j++) m[j] = (j * 31 + i) & 255
  const c = b4a.alloc(n + sodium.crypto_secretstream_xchacha20poly1305_ABYTES)
  sodium.crypto_secretstream_xchacha20poly1305_push(state, c, m, null, tags[i])
  messages.push({ tag: tagByte(tags[i]), message: hex(m), cipher: hex(c) })
})
// The stream ids secret-stream announces in its header, for a fixed hash.
const SS = require('@hyperswarm/secret-stream')
const hash = b4a.alloc(64)
for (let i = 0; i < 64; i++) hash[i] = 255 - i
const streamId = { handshake_hash: hex(hash), initiator: hex(SS.id(hash, true)), responder: hex(SS.id(hash, false)) }
console.log(JSON.stringify({ key: hex(key), header: hex(header), messages, stream_id: streamId }, null, 1))
