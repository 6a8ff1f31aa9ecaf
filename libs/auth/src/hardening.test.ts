// The HTTP hardening settings as the process reads them: defaults when unset, every variable
// honoured, an origin list that browsers could never match refused at boot.
import { describe, expect, it } from 'vitest'
import { parseEnv } from '@sluice/config'
import { DEFAULT_HTTP_SETTINGS } from './hardening.js'
import { loadSecurityConfig, securityEnv } from './security.js'

const load = (env: Record<string, string>) => loadSecurityConfig(parseEnv(securityEnv, env))

describe('HTTP hardening settings', () => {
  it('default to bounded timeouts and limits with CORS closed', () => {
    expect(load({}).http).toEqual(DEFAULT_HTTP_SETTINGS)
    expect(DEFAULT_HTTP_SETTINGS).toMatchObject({ requestTimeoutMs: 60_000, maxConnections: 10_000, corsOrigins: [] })
  })

  it('read every SLUICE_HTTP_* variable and the CORS origins', () => {
    const http = load({
      SLUICE_HTTP_REQUEST_TIMEOUT_MS: '5000',
      SLUICE_HTTP_IDLE_TIMEOUT_MS: '6000',
      SLUICE_HTTP_KEEP_ALIVE_TIMEOUT_MS: '7000',
      SLUICE_HTTP_MAX_HEADER_BYTES: '8192',
      SLUICE_HTTP_MAX_PARAM_LENGTH: '64',
      SLUICE_HTTP_MAX_CONNECTIONS: '50',
      SLUICE_CORS_ORIGINS: 'https://app.example, http://localhost:3000',
    }).http
    expect(http).toEqual({
      requestTimeoutMs: 5000,
      idleTimeoutMs: 6000,
      keepAliveTimeoutMs: 7000,
      maxHeaderBytes: 8192,
      maxParamLength: 64,
      maxConnections: 50,
      corsOrigins: ['https://app.example', 'http://localhost:3000'],
    })
  })

  it.each(['https://app.example/', 'app.example', 'https://app.example/ui', 'null'])('refuses the origin %j, naming the variable', (origin) => {
    expect(() => load({ SLUICE_CORS_ORIGINS: origin })).toThrow(/SLUICE_CORS_ORIGINS: expected origins like https:\/\/app\.example\.com/)
  })

  it('refuses a zero timeout or limit', () => {
    expect(() => load({ SLUICE_HTTP_REQUEST_TIMEOUT_MS: '0', SLUICE_HTTP_MAX_CONNECTIONS: '-1' })).toThrow(/SLUICE_HTTP_REQUEST_TIMEOUT_MS[\s\S]*SLUICE_HTTP_MAX_CONNECTIONS/)
  })
})
