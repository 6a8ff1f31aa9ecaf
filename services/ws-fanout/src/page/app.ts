// The live-tail page: one WebSocket to /v1/stream, reconnecting with backoff; filters applied on
// the server; newest rows first, capped; ERROR rows and alerts stand out (with their notifications'
// delivery results); a sparkline per service.
// Authentication, when the server asks for it (an `auth_required` frame, or a close with 4001): a
// ?token= in the page's address is used as is; otherwise the page asks once for an API key, mints
// a short-lived token with it (POST /v1/tokens), forgets the key and keeps only the token, in
// sessionStorage (this tab), sending it in an auth message on every (re)connect until it expires.
const MAX_ROWS = 500
const SPARK_POINTS = 30

interface LogData {
  id: string
  timestamp: string
  service: string
  severity_text: string
  message: string
  category?: string
}
interface AlertData {
  id: string
  version: number
  rule_name: string
  service: string
  status: string
  summary: string
  /** What the data says about the alert (the alerter's optional explainer). */
  explanation?: string | null
}
/** The alerter's inbox item for one alert change: the same fields, and where it was delivered. */
interface NotificationData extends Omit<AlertData, 'id'> {
  alert_id: string
  channels?: Array<{ name: string; result: string }>
}
type Frame =
  | { type: 'log'; data: LogData }
  | { type: 'alert'; data: AlertData }
  | { type: 'notification'; data: NotificationData }
  | { type: 'stats'; data: { service: string; ratePerS: number; errorRatePerS: number } }
  | { type: 'dropped'; count: number }
  | { type: 'auth_required' }
  | { type: string }

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const badge = $('badge')
const rows = $<HTMLTableSectionElement>('rows')
const alerts = $('alerts')
const rates = $('rates')
const count = $('count')
const pauseButton = $<HTMLButtonElement>('pause')
const login = $<HTMLFormElement>('login')
const loginError = $('login-error')
const TOKEN_ITEM = 'sluice.stream-token'
const CLOSE_UNAUTHORIZED = 4001
const CLOSE_TENANT_LIMIT = 4029
/** A token given in the page's address (?token=) wins over a minted one. */
const addressToken = new URLSearchParams(location.search).get('token')
/** Waiting for someone to log in: no reconnecting meanwhile. */
let awaitingLogin = false

let socket: WebSocket | undefined
let paused = false
let attempt = 0
let received = 0
let dropped = 0
const series = new Map<string, number[]>()

function setBadge(state: 'connecting' | 'live' | 'offline'): void {
  badge.className = state
  badge.textContent = state
}

function subscription(): object {
  const services = $<HTMLInputElement>('service').value.split(',').map((s) => s.trim()).filter(Boolean)
  const minLevel = $<HTMLSelectElement>('minLevel').value
  const q = $<HTMLInputElement>('q').value
  const filters: Record<string, unknown> = {}
  if (services.length) filters.services = services
  if (minLevel) filters.minLevel = minLevel
  if (q) filters.q = q
  return { type: 'subscribe', channels: ['logs', 'alerts', 'stats'], filters }
}

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement('td')
  td.textContent = text
  if (cls) td.className = cls
  return td
}

function addLog(log: LogData): void {
  const tr = document.createElement('tr')
  tr.className = `new ${log.severity_text}`
  tr.dataset.id = log.id
  tr.append(cell(log.timestamp.slice(11, 23), 'muted'), cell(log.severity_text, 'level'), cell(log.service), cell(log.category ?? '', 'muted'), cell(log.message, 'msg'))
  rows.prepend(tr)
  while (rows.childElementCount > MAX_ROWS) rows.lastElementChild?.remove()
  received++
  count.textContent = `${received} received${dropped ? ` · ${dropped} dropped` : ''}`
}

const DELIVERY_MARKS: Record<string, string> = { delivered: '✓', failed: '✗', pending: '…', muted: '–' }

// One line per alert id, updated in place: an incident is one alert whatever its updates. Its
// inbox item (a notification frame) adds where the change was delivered; a change older than
// the one shown, arriving late, is ignored.
function addAlert(a: AlertData, delivery?: string): void {
  let div = alerts.querySelector<HTMLDivElement>(`div[data-alert-id="${CSS.escape(a.id)}"]`)
  const shown = Number(div?.dataset.version ?? -1)
  if (div && a.version < shown) return
  if (!div) {
    div = document.createElement('div')
    div.dataset.alertId = a.id
  }
  if (a.version > shown) div.dataset.delivery = ''
  if (delivery !== undefined) div.dataset.delivery = delivery
  // Inbox items carry no explanation: the alert's own frame keeps it.
  if (a.explanation) div.dataset.explanation = a.explanation
  div.dataset.version = String(a.version)
  div.className = a.status
  const why = div.dataset.explanation ? ` · why: ${div.dataset.explanation.length > 200 ? `${div.dataset.explanation.slice(0, 199)}…` : div.dataset.explanation}` : ''
  div.textContent = `${a.status === 'resolved' ? '✓' : '⚠'} ${a.status.toUpperCase()} ${a.rule_name} · ${a.service}: ${a.summary}${div.dataset.delivery ? ` · ${div.dataset.delivery}` : ''}${why}`
  div.title = div.dataset.explanation ?? ''
  alerts.prepend(div)
  while (alerts.childElementCount > 5) alerts.lastElementChild?.remove()
}

function addNotification(n: NotificationData): void {
  addAlert({ ...n, id: n.alert_id }, (n.channels ?? []).map((c) => `${c.name} ${DELIVERY_MARKS[c.result] ?? c.result}`).join(' '))
}

function addRate(service: string, ratePerS: number): void {
  const points = series.get(service) ?? []
  points.push(ratePerS)
  if (points.length > SPARK_POINTS) points.shift()
  series.set(service, points)
  let el = document.getElementById(`rate-${service}`)
  if (!el) {
    el = document.createElement('div')
    el.id = `rate-${service}`
    el.className = 'rate'
    el.innerHTML = '<span></span><svg viewBox="0 0 90 22"><polyline/></svg><span></span>'
    rates.append(el)
  }
  const max = Math.max(1, ...points)
  el.querySelector('polyline')!.setAttribute('points', points.map((p, i) => `${90 - ((points.length - 1 - i) * 90) / (SPARK_POINTS - 1)},${21 - (p / max) * 20}`).join(' '))
  el.firstElementChild!.textContent = service
  el.lastElementChild!.textContent = `${ratePerS.toFixed(1)}/s`
}

function storedToken(): string | null {
  return addressToken ?? sessionStorage.getItem(TOKEN_ITEM)
}

function askForKey(reason: string): void {
  awaitingLogin = true
  setBadge('offline')
  loginError.textContent = reason
  login.hidden = false
  $<HTMLInputElement>('key').focus()
}

/** Mints a token with the key typed in, keeps the token and forgets the key. */
async function mint(): Promise<void> {
  const keyInput = $<HTMLInputElement>('key')
  const tenant = $<HTMLInputElement>('tenant').value.trim()
  const res = await fetch('/v1/tokens', {
    method: 'POST',
    // Without credentials mode the browser would answer a 401's Basic challenge with its own login prompt.
    credentials: 'omit',
    headers: { authorization: `Bearer ${keyInput.value.trim()}`, 'content-type': 'application/json' },
    body: JSON.stringify(tenant ? { tenant } : {}),
  })
  keyInput.value = ''
  const body = (await res.json().catch(() => ({}))) as { token?: string; message?: string }
  if (!res.ok || !body.token) {
    loginError.textContent = body.message ?? `HTTP ${res.status}`
    return
  }
  sessionStorage.setItem(TOKEN_ITEM, body.token)
  login.hidden = true
  loginError.textContent = ''
  awaitingLogin = false
  attempt = 0
  connect()
}

function onFrame(frame: Frame): void {
  if (frame.type === 'auth_required') {
    // Reached only without a token: the server waits for one the page does not have.
    if (!storedToken()) {
      askForKey('')
      socket?.close(1000)
    }
  } else if (frame.type === 'log' && 'data' in frame) addLog(frame.data as LogData)
  else if (frame.type === 'alert' && 'data' in frame) addAlert(frame.data as AlertData)
  else if (frame.type === 'notification' && 'data' in frame) addNotification(frame.data as NotificationData)
  else if (frame.type === 'stats' && 'data' in frame) {
    const d = frame.data as { service: string; ratePerS: number }
    addRate(d.service, d.ratePerS)
  } else if (frame.type === 'dropped' && 'count' in frame) dropped += frame.count
}

function connect(): void {
  setBadge('connecting')
  const url = new URL('/v1/stream', location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  if (addressToken) url.searchParams.set('token', addressToken)
  const ws = new WebSocket(url)
  socket = ws
  ws.onopen = () => {
    attempt = 0
    setBadge('live')
    // A minted token goes in a message, not the address: addresses end up in access logs.
    const minted = addressToken ? null : sessionStorage.getItem(TOKEN_ITEM)
    if (minted) ws.send(JSON.stringify({ type: 'auth', token: minted }))
    ws.send(JSON.stringify(subscription()))
    if (paused) ws.send(JSON.stringify({ type: 'pause' }))
  }
  ws.onmessage = (e) => onFrame(JSON.parse(String(e.data)) as Frame)
  ws.onclose = (e) => {
    setBadge('offline')
    if (awaitingLogin) return
    if (e.code === CLOSE_UNAUTHORIZED && !addressToken) {
      // Expired or refused: a new token is needed.
      sessionStorage.removeItem(TOKEN_ITEM)
      return askForKey(e.reason || 'authentication refused')
    }
    if (e.code === CLOSE_TENANT_LIMIT) count.textContent = e.reason
    // Exponential backoff with jitter, capped at 30 s.
    const delay = Math.min(30_000, 500 * 2 ** attempt++) * (0.5 + Math.random() / 2)
    setTimeout(connect, delay)
  }
}

login.addEventListener('submit', (e) => {
  e.preventDefault()
  mint().catch((err: unknown) => (loginError.textContent = String(err)))
})
$('apply').addEventListener('click', () => socket?.readyState === WebSocket.OPEN && socket.send(JSON.stringify(subscription())))
pauseButton.addEventListener('click', () => {
  paused = !paused
  pauseButton.textContent = paused ? 'Resume' : 'Pause'
  socket?.send(JSON.stringify({ type: paused ? 'pause' : 'resume' }))
})
connect()
