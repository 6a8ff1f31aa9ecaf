// A worker thread holding a share of the ws section's WebSocket clients, so reading frames runs in
// parallel with the load generator and the other shares (real dashboards are other machines).
// Plain JavaScript: worker threads do not inherit the tsx loader on Node 20.
//
// The clients stand in for dashboards on other machines, so they should take as little of this
// machine's CPU as they can: each is a raw socket after an RFC 6455 handshake (checked), reading
// frames in place — counting every log frame by its first bytes, decoding one in `sampleEvery` for
// the latency, answering pings — instead of a `ws` client allocating a buffer and an event per
// message (that cost the bench 49–75 % of a core at 160 000 messages/s, most of it GC; now 35–48 %).
// workerData {url, filters[], sampleEvery} → posts 'ready'; ← 'start'; ← 'stop' → {received, dropped, latencies}.
import { Buffer } from 'node:buffer'
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import { URL } from 'node:url'
import { parentPort, workerData } from 'node:worker_threads'

const OBSERVED = /"observed_timestamp":"([^"]+)"/
const LOG_PREFIX = Buffer.from('{"type":"log"')
const DROPPED_PREFIX = Buffer.from('{"type":"dropped"')
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const OP_TEXT = 0x1
const OP_CLOSE = 0x8
const OP_PING = 0x9
/** Every socket of this thread reads into it: its bytes are handled before the next read. */
const READ_BUFFER = Buffer.alloc(256 * 1024)

const { url, filters, sampleEvery } = workerData
let counting = false
const result = { received: 0, dropped: 0, latencies: [] }
const sockets = []

function startsWith(buf, at, end, prefix) {
  if (end - at < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false
  return true
}

/** A masked client frame (RFC 6455 §5.3: every client frame is masked). */
function clientFrame(opcode, payload) {
  const n = payload.length
  const head = n < 126 ? 2 : 4
  const frame = Buffer.allocUnsafe(head + 4 + n)
  frame[0] = 0x80 | opcode
  if (n < 126) frame[1] = 0x80 | n
  else {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(n, 2)
  }
  const mask = randomBytes(4)
  mask.copy(frame, head)
  for (let i = 0; i < n; i++) frame[head + 4 + i] = payload[i] ^ mask[i & 3]
  return frame
}

/**
 * Reads the server's frames (unmasked, unfragmented: Sluice sends whole text frames) from each
 * read into `buf` as it stands; a frame cut by the end of a read is copied and completed by the next.
 */
function frameReader(send, close) {
  let rest = null
  let n = 0
  const onFrame = (opcode, buf, start, end) => {
    if (opcode === OP_TEXT) {
      if (!counting) return
      if (startsWith(buf, start, end, LOG_PREFIX)) {
        result.received++
        if (n++ % sampleEvery === 0) {
          const m = OBSERVED.exec(buf.latin1Slice(start, end))
          if (m?.[1]) result.latencies.push(Date.now() - Date.parse(`${m[1].slice(0, 23)}Z`))
        }
      } else if (startsWith(buf, start, end, DROPPED_PREFIX)) {
        result.dropped += JSON.parse(buf.toString('utf8', start, end)).count
      }
    } else if (opcode === OP_PING) send(clientFrame(0xa, Buffer.from(buf.subarray(start, end))))
    else if (opcode === OP_CLOSE) close()
    else throw new Error(`unexpected WebSocket opcode ${opcode}`)
  }
  return (chunk) => {
    const buf = rest === null ? chunk : Buffer.concat([rest, chunk])
    rest = null
    let at = 0
    while (at + 2 <= buf.length) {
      const b1 = buf[at + 1]
      if (b1 & 0x80) throw new Error('the server sent a masked frame')
      let len = b1 & 0x7f
      let head = 2
      if (len === 126) {
        if (at + 4 > buf.length) break
        len = buf.readUInt16BE(at + 2)
        head = 4
      } else if (len === 127) {
        if (at + 10 > buf.length) break
        len = Number(buf.readBigUInt64BE(at + 2))
        head = 10
      }
      if (at + head + len > buf.length) break
      if ((buf[at] & 0x80) === 0) throw new Error('the server sent a fragmented frame')
      onFrame(buf[at] & 0x0f, buf, at + head, at + head + len)
      at += head + len
    }
    if (at < buf.length) rest = Buffer.from(buf.subarray(at))
  }
}

/**
 * Opens a WebSocket by hand over a socket that reads into one buffer of this thread's (Node's
 * `onread`: no allocation per read): the upgrade request, the 101 answer and its accept key
 * checked, then every byte to `onData`.
 */
function connect(target, onData) {
  const u = new URL(target)
  const key = randomBytes(16).toString('base64')
  return new Promise((resolve, reject) => {
    let answer = ''
    let open = false
    const socket = net.connect({
      host: u.hostname,
      port: Number(u.port),
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread, buf) => {
          if (open) return void onData(buf.subarray(0, nread))
          answer += buf.latin1Slice(0, nread)
          const end = answer.indexOf('\r\n\r\n')
          if (end < 0) return
          const expected = createHash('sha1').update(key + ACCEPT_GUID).digest('base64')
          const accept = answer.slice(0, end).split('\r\n').find((line) => line.toLowerCase().startsWith('sec-websocket-accept:'))
          const accepted = accept?.slice(accept.indexOf(':') + 1).trim() === expected
          if (!answer.startsWith('HTTP/1.1 101') || !accepted) {
            socket.destroy()
            return void reject(new Error(`upgrade refused: ${answer.slice(0, answer.indexOf('\r\n'))}`))
          }
          open = true
          resolve(socket)
          const head = Buffer.from(answer.slice(end + 4), 'latin1')
          if (head.length > 0) onData(head)
        },
      },
    })
    socket.once('error', reject)
    socket.once('connect', () =>
      socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`),
    )
  })
}

for (const f of filters) {
  let socket
  const read = frameReader((frame) => socket.write(frame), () => socket.end())
  socket = await connect(url, read)
  socket.on('error', () => undefined)
  sockets.push(socket)
  socket.write(clientFrame(OP_TEXT, Buffer.from(JSON.stringify({ type: 'subscribe', channels: ['logs'], filters: f }))))
}
parentPort.postMessage('ready')
parentPort.on('message', (m) => {
  if (m === 'start') counting = true
  else if (m === 'stop') {
    counting = false
    for (const s of sockets) s.destroy()
    parentPort.postMessage(result)
  }
})
