// A worker thread holding a share of the ws section's WebSocket clients, so reading frames runs in
// parallel with the load generator and the other shares (real dashboards are other machines).
// Plain JavaScript: worker threads do not inherit the tsx loader on Node 20.
// Clients only look at a frame's first bytes and decode one in `sampleEvery` for the latency.
// workerData {url, filters[], sampleEvery} → posts 'ready'; ← 'start'; ← 'stop' → {received, dropped, latencies}.
import { Buffer } from 'node:buffer'
import { parentPort, workerData } from 'node:worker_threads'
import WebSocket from 'ws'

const OBSERVED = /"observed_timestamp":"([^"]+)"/
const LOG_PREFIX = Buffer.from('{"type":"log"')
const DROPPED_PREFIX = Buffer.from('{"type":"dropped"')

const { url, filters, sampleEvery } = workerData
let counting = false
const result = { received: 0, dropped: 0, latencies: [] }
const sockets = []

for (const f of filters) {
  const ws = new WebSocket(url, { skipUTF8Validation: true })
  sockets.push(ws)
  let n = 0
  ws.on('message', (data) => {
    if (!counting) return
    if (data.indexOf(LOG_PREFIX) === 0) {
      result.received++
      if (n++ % sampleEvery === 0) {
        const m = OBSERVED.exec(data.toString())
        if (m?.[1]) result.latencies.push(Date.now() - Date.parse(`${m[1].slice(0, 23)}Z`))
      }
    } else if (data.indexOf(DROPPED_PREFIX) === 0) {
      result.dropped += JSON.parse(data.toString()).count
    }
  })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  ws.send(JSON.stringify({ type: 'subscribe', channels: ['logs'], filters: f }))
}
parentPort.postMessage('ready')
parentPort.on('message', (m) => {
  if (m === 'start') counting = true
  else if (m === 'stop') {
    counting = false
    for (const s of sockets) s.terminate()
    parentPort.postMessage(result)
  }
})
