import { describe, expect, it } from 'vitest'
import { parseHeader } from './header.js'

const REF = Date.UTC(2026, 5, 1)
const view = (line: string) => {
  const h = parseHeader(line, REF)
  if (!h) return undefined
  return { time: h.timestampNs === undefined ? undefined : new Date(Number(h.timestampNs / 1_000_000n)).toISOString().replace('.000Z', 'Z'), level: h.level?.text, component: h.component, thread: h.thread, pid: h.pid, content: h.content }
}

describe('parseHeader', () => {
  it.each([
    [
      'log4j (Hadoop): ISO time with comma millis, level, thread with a space, logger',
      '2015-10-18 18:01:47,978 INFO [RMCommunicator Allocator] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster',
      { time: '2015-10-18T18:01:47.978Z', level: 'INFO', component: 'org.apache.hadoop.mapreduce.v2.app.MRAppMaster', thread: 'RMCommunicator Allocator', content: 'Created MRAppMaster' },
    ],
    [
      'log4j yy/MM/dd (Spark)',
      '17/06/09 20:10:40 WARN executor.Executor: Issue communicating with driver',
      { time: '2017-06-09T20:10:40Z', level: 'WARN', component: 'executor.Executor', content: 'Issue communicating with driver' },
    ],
    [
      'yymmdd hhmmss pid level component (HDFS)',
      '081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating',
      { time: '2008-11-09T20:36:15Z', level: 'INFO', component: 'dfs.DataNode$PacketResponder', pid: '148', content: 'PacketResponder 1 for block blk_38865049064139660 terminating' },
    ],
    [
      'separators and a bracketed thread holding brackets and colons (Zookeeper)',
      '2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200',
      { time: '2015-07-29T17:41:44.747Z', level: 'INFO', thread: 'QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774', content: 'Notification time out: 3200' },
    ],
    [
      'Apache error log: bracketed time and lower-case bracketed level',
      '[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6',
      { time: '2005-12-04T04:47:44Z', level: 'ERROR', content: 'mod_jk child workerEnv in error state 6' },
    ],
    [
      'a tag, epoch, node ids and a subsystem before the level, epoch seconds as the time (BGL)',
      'APPREAD 1117869872 2005.06.04 R04-M1-N4-I:J18-U11 2005-06-04-00.24.32.432192 R04-M1-N4-I:J18-U11 RAS APP FATAL ciod: failed to read message prefix',
      { time: '2005-06-04T07:24:32Z', level: 'FATAL', component: 'ciod', content: 'failed to read message prefix' },
    ],
    [
      'Python logging default: time - logger - level - message',
      '2024-03-05 10:00:01,250 - payments.worker - ERROR - charge failed for order 17',
      { time: '2024-03-05T10:00:01.250Z', level: 'ERROR', component: 'payments.worker', content: 'charge failed for order 17' },
    ],
    [
      'logback default: time [thread] level logger - message',
      '10:00:00.123 [main] INFO  com.example.App - started in 2.1 s',
      { level: 'INFO', component: 'com.example.App', thread: 'main', content: 'started in 2.1 s' },
    ],
    [
      'ISO 8601 with T and an offset',
      '2024-03-05T10:00:01.5+02:00 DEBUG cache warmed',
      { time: '2024-03-05T08:00:01.500Z', level: 'DEBUG', content: 'cache warmed' },
    ],
    [
      'a time and a program before " - " (Proxifier)',
      '[10.30 16:49:06] chrome.exe *64 - proxy.example.org:5070 open through proxy',
      { time: '2026-10-30T16:49:06Z', component: 'chrome.exe *64', content: 'proxy.example.org:5070 open through proxy' },
    ],
    [
      'BSD syslog file line: host and program[pid]',
      'Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186',
      { time: '2026-12-10T06:55:46Z', component: 'sshd', pid: '24200', content: 'Invalid user webmaster from 173.234.31.186' },
    ],
    [
      'Go log: date and time only',
      '2009/11/10 23:00:00 listening on :8080',
      { time: '2009-11-10T23:00:00Z', content: 'listening on :8080' },
    ],
    [
      'Android logcat: MM-DD time, pid, tid, one-letter level, tag',
      '03-17 16:13:38.811  1702  2395 W WindowManager: Unable to start animation, surface is null',
      { time: '2026-03-17T16:13:38.811Z', level: 'WARN', component: 'WindowManager', pid: '1702', content: 'Unable to start animation, surface is null' },
    ],
    ['a level word opening the line', 'ERROR: disk full on /var', { level: 'ERROR', content: 'disk full on /var' }],
  ])('%s', (_name, line, expected) => {
    expect(view(line)).toMatchObject(expected)
  })

  it.each([
    'Connection reset by peer',
    '2 users logged in',
    'error: lower-case words are text',
    'GET /index.html 200',
    '{"level":"info"}',
    'Starting INFO collection for 3 hosts',
    '2024-03-05',
  ])('leaves ordinary text alone: %s', (line) => {
    expect(parseHeader(line, REF)).toBeUndefined()
  })
})

describe('parseHeader level words', () => {
  // The shortest and longest level words, with a colon, in brackets (spaces inside too), and
  // capital words just outside their lengths, which are text.
  it.each([
    ['2024-01-01 10:00:00 ERR: disk full', 'ERROR', 'disk full'],
    ['2024-01-01 10:00:00 CRITICAL: pool gone', 'FATAL', 'pool gone'],
    ['2024-01-01 10:00:00 [crit] pool gone', 'FATAL', 'pool gone'],
    ['2024-01-01 10:00:00 [ WARNING ] slow', 'WARN', 'slow'],
    ['[CRITICAL:] pool gone', 'FATAL', 'pool gone'],
    ['ERROR: disk full', 'ERROR', 'disk full'],
  ])('%s', (line, level, content) => {
    expect(view(line)).toMatchObject({ level, content })
  })

  it.each(['EMERGENCY now', 'OK go', 'FINEST:: a'])('%s is text', (line) => {
    expect(parseHeader(line, REF)).toBeUndefined()
  })
})
