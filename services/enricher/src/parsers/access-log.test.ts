import { describe, expect, it } from 'vitest'
import { parseAccessLog, parseClfTime, routeTemplate } from './access-log.js'

describe('parseAccessLog', () => {
  it('parses the Common Log Format (Apache documentation example)', () => {
    expect(parseAccessLog('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326')).toEqual({
      clientIp: '127.0.0.1', ident: null, user: 'frank', time: '10/Oct/2000:13:55:36 -0700', timestampNs: 971211336000000000n,
      method: 'GET', path: '/apache_pb.gif', protocol: 'HTTP/1.0', status: 200, bytes: 2326,
      referer: null, userAgent: null, requestTimeS: null, durationMs: null,
    })
  })

  it('parses the Combined format with referer and user agent', () => {
    const r = parseAccessLog('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"')
    expect(r).toMatchObject({ referer: 'http://www.example.com/start.html', userAgent: 'Mozilla/4.08 [en] (Win98; I ;Nav)', durationMs: null })
  })

  it('reads nginx $request_time appended as a bare decimal', () => {
    const r = parseAccessLog('203.0.113.7 - - [23/Nov/2025:12:00:01 +0000] "POST /api/v1/orders HTTP/2.0" 502 157 "-" "okhttp/4.12.0" 0.734')
    expect(r).toMatchObject({ method: 'POST', path: '/api/v1/orders', protocol: 'HTTP/2.0', status: 502, bytes: 157, userAgent: 'okhttp/4.12.0', requestTimeS: 0.734, durationMs: 734 })
  })

  it('reads nginx timing pairs and skips quoted extras', () => {
    const r = parseAccessLog('10.1.2.3 - - [23/Nov/2025:12:00:01 +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.29" "10.0.0.1, 10.0.0.2" rt=0.012 uct="0.000" uht="0.011" urt="0.011"')
    expect(r).toMatchObject({ status: 200, requestTimeS: 0.012, durationMs: 12 })
  })

  it('copes with a "-" size, an empty request and junk requests', () => {
    expect(parseAccessLog('::1 - - [23/Nov/2025:12:00:01 +0000] "-" 400 - "-" "-"')).toMatchObject({ clientIp: '::1', method: null, path: null, status: 400, bytes: null, userAgent: null })
    expect(parseAccessLog('198.51.100.4 - - [23/Nov/2025:12:00:01 +0000] "\\x16\\x03\\x01\\x00" 400 157 "-" "-"')).toMatchObject({ method: null, status: 400 })
  })

  it('leaves a trailing integer alone (it could be %D microseconds or %T seconds)', () => {
    expect(parseAccessLog('127.0.0.1 - - [23/Nov/2025:12:00:01 +0000] "GET / HTTP/1.1" 200 10 "-" "curl/8.5.0" 1534')?.durationMs).toBeNull()
  })

  it('rejects lines that are not access lines', () => {
    expect(parseAccessLog('[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties')).toBeUndefined()
    expect(parseAccessLog('GET /index.html 200')).toBeUndefined()
  })
})

describe('parseClfTime', () => {
  it('applies the zone offset', () => {
    expect(parseClfTime('23/Nov/2025:13:00:00 +0100')).toBe(1_763_899_200_000_000_000n)
    expect(parseClfTime('23/Foo/2025:13:00:00 +0100')).toBeUndefined()
  })
})

describe('routeTemplate', () => {
  it('replaces id-like segments, drops the query and keeps routes apart', () => {
    expect(routeTemplate('GET', '/api/users/12345/orders?page=2')).toBe('GET /api/users/<*>/orders')
    expect(routeTemplate('DELETE', '/v1/items/5f0c6a2e-9d3b-4c1a-8e2f-1234567890ab')).toBe('DELETE /v1/items/<*>')
    expect(routeTemplate('GET', '/static/app.3f9a8b7c.js')).toBe('GET /static/app.3f9a8b7c.js')
    expect(routeTemplate('GET', '/')).toBe('GET /')
    expect(routeTemplate(null, null)).toBe('- -')
  })
})
