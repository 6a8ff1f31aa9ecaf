import { describe, expect, it } from 'vitest'
import { parseJsonMessage } from './json.js'

describe('parseJsonMessage', () => {
  it('flattens a pino line', () => {
    const line = '{"level":30,"time":1700000000000,"pid":4242,"hostname":"web-1","req":{"id":7,"method":"GET","url":"/api/users/9"},"res":{"statusCode":200},"responseTime":12,"msg":"request completed"}'
    expect(parseJsonMessage(line)).toEqual({
      level: '30', time: '1700000000000', pid: '4242', hostname: 'web-1',
      'req.id': '7', 'req.method': 'GET', 'req.url': '/api/users/9', 'res.statusCode': '200', responseTime: '12', msg: 'request completed',
    })
  })

  it('reads a zap production line and an ECS line with dotted keys', () => {
    const zap = '{"level":"error","ts":1700000000.123,"caller":"server/handler.go:88","msg":"db query failed","error":"pq: deadlock detected","stacktrace":"main.handle\\n\\t/app/main.go:42"}'
    expect(parseJsonMessage(zap)).toMatchObject({ level: 'error', msg: 'db query failed', error: 'pq: deadlock detected', stacktrace: 'main.handle\n\t/app/main.go:42' })
    const ecs = '{"@timestamp":"2025-11-23T12:00:00.000Z","log.level":"warn","message":"slow request","http":{"response":{"status_code":504}},"event.duration":2500000000}'
    expect(parseJsonMessage(ecs)).toMatchObject({ 'log.level': 'warn', 'http.response.status_code': '504', 'event.duration': '2500000000' })
  })

  it('tolerates surrounding whitespace', () => {
    expect(parseJsonMessage('  {"msg":"hi"}\n')).toEqual({ msg: 'hi' })
  })

  it('returns undefined for anything that is not one JSON object', () => {
    expect(parseJsonMessage('plain text')).toBeUndefined()
    expect(parseJsonMessage('[1,2,3]')).toBeUndefined()
    expect(parseJsonMessage('{"truncated": "val')).toBeUndefined()
    expect(parseJsonMessage('{not json}')).toBeUndefined()
    expect(parseJsonMessage('{}')).toEqual({})
  })
})
