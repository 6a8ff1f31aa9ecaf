// A local HTTP server speaking Groq's OpenAI-compatible chat completions, for tests that run the
// real groq-sdk (`new Groq({ baseURL: fake.baseUrl })`). It records every request and answers
// what the test scripts: a JSON answer, any content, a refusal, an HTTP error with Retry-After,
// each optionally after a delay (to force timeouts). The server closes when the test finishes.
//
// groq-sdk joins baseURL and '/openai/v1/chat/completions' (resources/chat/completions.js), so the
// base URL is the server's root.
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { listenLocal } from './local-server.js'

export const CHAT_COMPLETIONS_PATH = '/openai/v1/chat/completions'

/** The request body groq-sdk sends, the fields tests look at. */
export interface FakeGroqRequestBody {
  model: string
  messages: { role: string; content: string }[]
  temperature?: number
  response_format?: { type: string }
  max_completion_tokens?: number
  max_tokens?: number
}

export interface FakeGroqRequest {
  /** 1 for the first request this server received. */
  n: number
  body: FakeGroqRequestBody
  headers: IncomingHttpHeaders
}

export interface FakeUsage {
  promptTokens: number
  completionTokens: number
}

type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls'

/** Every reply may wait `delayMs` before it is sent (a reply of only `{ delayMs }` answers `{}`). */
export type FakeGroqReply = { delayMs?: number } & (
  | { json: unknown; finishReason?: FinishReason; usage?: FakeUsage }
  | { content: string | null; finishReason?: FinishReason; usage?: FakeUsage }
  | { refusal: string; usage?: FakeUsage }
  | {
      status: number
      /** Sent as `retry-after` (seconds). */
      retryAfterS?: number
      /** Sent as `retry-after-ms`. */
      retryAfterMs?: number
      /** Groq's error object; a default by status when absent. */
      error?: { message: string; type: string; code: string | null; failed_generation?: string }
      headers?: Record<string, string>
    }
  | { delayMs: number }
)

/** Replies in order (then `{ json: {} }`), or a function of the request and its number. */
export type FakeGroqScript = FakeGroqReply[] | ((req: FakeGroqRequest, n: number) => FakeGroqReply)

export interface FakeGroq {
  /** Pass as groq-sdk's baseURL (GROQ_BASE_URL). */
  baseUrl: string
  /** Every chat-completions request, in arrival order, errors and delayed ones included. */
  requests: FakeGroqRequest[]
  /** Replaces the script for the requests still to come. */
  reply(script: FakeGroqScript): void
  close(): Promise<void>
}

export const DEFAULT_USAGE: FakeUsage = { promptTokens: 120, completionTokens: 8 }

/*
 * 200 { id, object: 'chat.completion', created, model,
 *       choices: [{ index: 0, message: { role: 'assistant', content, refusal? }, logprobs: null, finish_reason }],
 *       usage: { prompt_tokens, completion_tokens, total_tokens }, system_fingerprint, x_groq: { id } }
 */
function completion(model: string, message: { content: string | null; refusal?: string }, finishReason: FinishReason, usage: FakeUsage) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', ...message }, logprobs: null, finish_reason: finishReason }],
    usage: { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.promptTokens + usage.completionTokens },
    system_fingerprint: 'fp_fake',
    x_groq: { id: 'req_fake' },
  }
}

/* 4xx/5xx { error: { message, type, code } } — Groq's error shape. */
function defaultError(status: number): { message: string; type: string; code: string | null } {
  if (status === 429) return { message: 'Rate limit reached for model', type: 'tokens', code: 'rate_limit_exceeded' }
  if (status === 401) return { message: 'Invalid API Key', type: 'invalid_request_error', code: 'invalid_api_key' }
  if (status >= 500) return { message: 'Internal Server Error', type: 'internal_server_error', code: null }
  return { message: 'Bad request', type: 'invalid_request_error', code: null }
}

function send(res: ServerResponse, model: string, r: FakeGroqReply): void {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
  if ('status' in r) {
    const headers: Record<string, string> = { ...r.headers }
    if (r.retryAfterS !== undefined) headers['retry-after'] = String(r.retryAfterS)
    if (r.retryAfterMs !== undefined) headers['retry-after-ms'] = String(r.retryAfterMs)
    json(r.status, { error: r.error ?? defaultError(r.status) }, headers)
  } else if ('refusal' in r) json(200, completion(model, { content: null, refusal: r.refusal }, 'stop', r.usage ?? DEFAULT_USAGE))
  else if ('json' in r) json(200, completion(model, { content: JSON.stringify(r.json) }, r.finishReason ?? 'stop', r.usage ?? DEFAULT_USAGE))
  else if ('content' in r) json(200, completion(model, { content: r.content }, r.finishReason ?? 'stop', r.usage ?? DEFAULT_USAGE))
  else json(200, completion(model, { content: '{}' }, 'stop', DEFAULT_USAGE))
}

export async function startFakeGroq(script: FakeGroqScript = []): Promise<FakeGroq> {
  const requests: FakeGroqRequest[] = []
  let current: FakeGroqScript = Array.isArray(script) ? [...script] : script
  const timers = new Set<NodeJS.Timeout>()

  const next = (req: FakeGroqRequest): FakeGroqReply => (typeof current === 'function' ? current(req, req.n) : (current.shift() ?? { json: {} }))

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== CHAT_COMPLETIONS_PATH) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Unknown request URL', type: 'invalid_request_error', code: 'unknown_url' } }))
        return
      }
      const recorded: FakeGroqRequest = { n: requests.length + 1, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as FakeGroqRequestBody, headers: req.headers }
      requests.push(recorded)
      const reply = next(recorded)
      if (reply.delayMs === undefined || reply.delayMs <= 0) return send(res, recorded.body.model, reply)
      const timer = setTimeout(() => {
        timers.delete(timer)
        if (!res.destroyed) send(res, recorded.body.model, reply)
      }, reply.delayMs)
      timers.add(timer)
      // The client gave up (timeout): nothing left to answer.
      res.on('close', () => {
        clearTimeout(timer)
        timers.delete(timer)
      })
    })
  })
  const { url, close } = await listenLocal(server, {
    beforeClose: () => {
      for (const t of timers) clearTimeout(t)
      timers.clear()
    },
  })
  return {
    baseUrl: url,
    requests,
    reply(s) {
      current = Array.isArray(s) ? [...s] : s
    },
    close,
  }
}
