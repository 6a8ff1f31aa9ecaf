// The language model as the AI endpoints see it: one JSON answer per call, validated, never a
// throw. Every failure has a reason, and each endpoint falls back to its deterministic answer
// for all of them — Sluice answers without a key, over budget, or when the model misbehaves.
import type { z } from 'zod'

export type AiFailure =
  /** No GROQ_API_KEY: the model is off. */
  | 'no_key'
  /** The tenant's request or token budget (per minute / per day) is spent. */
  | 'budget'
  | 'timeout'
  /** The provider answered 429 (after its Retry-After, within the call's time). */
  | 'rate_limited'
  /** The model declined to answer. */
  | 'refused'
  /** The answer was not JSON, or not the expected shape. */
  | 'bad_output'
  /** Anything else (network, 5xx, auth). */
  | 'error'

export type AiResult<T> = { ok: true; value: T; cached: boolean; usage: { promptTokens: number; completionTokens: number } } | { ok: false; reason: AiFailure; detail: string }

export type AiPurpose = 'plan' | 'answer' | 'insight' | 'explain'

export interface AiRequest<T> {
  tenant: string
  purpose: AiPurpose
  /** Instructions. Data never goes here. */
  system: string
  /** The question and the data, data quoted as data (see quoteData in prompt.ts). */
  user: string
  schema: z.ZodType<T>
  /** Answers are cached per (tenant, purpose, cacheKey) for QUERY_AI_CACHE_TTL_MS; omit to skip the cache. */
  cacheKey?: string
  /** Completion tokens for this call, at most QUERY_AI_MAX_TOKENS. */
  maxTokens?: number
}

export interface AiModel {
  /** False without GROQ_API_KEY: every call answers { ok: false, reason: 'no_key' } at once. */
  readonly enabled: boolean
  /** The model's name, as the answers report it. */
  readonly model: string
  json<T>(req: AiRequest<T>): Promise<AiResult<T>>
}
