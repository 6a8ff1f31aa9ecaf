// The default rule set: common real-world failure messages (Node, JVM, Go, Python, Postgres,
// MySQL, MongoDB, nginx, Envoy, Kubernetes, sshd, Stripe) mapped to a category. Order matters —
// the first match wins — so the specific and the dangerous come first: an SQL-injection attempt
// mentions SQL, an upstream timeout mentions a timeout, a lock timeout is a database problem.
// `is_error: true` marks messages that are failures whatever level the application chose; the
// others follow the level. A file in the same schema replaces this set (see classify.ts).
import type { RulesFile } from './classify.js'

export const DEFAULT_RULES: RulesFile = {
  rules: [
    // Security: attacks and intrusion signals.
    { id: 'security-sql-injection', category: 'security', message: "sql injection|\\bunion\\s+(all\\s+)?select\\b|'\\s*or\\s+'?1'?\\s*=\\s*'?1|;\\s*drop\\s+table|\\bsqlmap\\b" },
    { id: 'security-xss', category: 'security', message: '\\bxss\\b|cross[- ]site scripting|<script\\b|javascript:[^\\s]|\\bonerror\\s*=' },
    { id: 'security-traversal', category: 'security', message: 'path traversal|directory traversal|(\\.\\./){2,}|%2e%2e%2f' },
    {
      id: 'security-intrusion',
      category: 'security',
      message:
        'break-?in attempt|brute[- ]?force|intrusion|malicious|blocked by (the )?(waf|firewall)|csrf token (mismatch|invalid|missing)|suspicious (activity|request|login)|too many (failed )?(login|authentication) (attempts|failures)|account locked',
    },

    // Resources: memory, disk, descriptors, eviction.
    {
      id: 'resource-memory',
      category: 'resource',
      is_error: true,
      message:
        'outofmemoryerror|out of memory|oomkilled|oom[- ]?kill|killed process \\d+|cannot allocate memory|\\benomem\\b|java heap space|gc overhead limit exceeded|memory limit exceeded|heap out of memory|allocation failed',
    },
    { id: 'resource-disk', category: 'resource', is_error: true, message: 'no space left on device|\\benospc\\b|disk (is )?full|disk quota exceeded|\\bedquot\\b' },
    {
      id: 'resource-limits',
      category: 'resource',
      is_error: true,
      message: 'too many open files|\\bemfile\\b|rejectedexecutionexception|thread pool (is )?exhausted|pod (was )?evicted|the node was low on resource',
    },
    { id: 'resource-rate-limit', category: 'resource', message: 'rate limit(ed)? exceeded|too many requests|throttl(ed|ing)' },

    // Databases: driver and server errors.
    { id: 'database-deadlock', category: 'database', is_error: true, message: 'deadlock|lock wait timeout exceeded|could not serialize access|serialization failure|could not obtain lock' },
    {
      id: 'database-errors',
      category: 'database',
      is_error: true,
      message:
        'sqlstate|sqlexception|psqlexception|\\bora-\\d{5}\\b|\\ber_[a-z_]{4,}\\b|duplicate key|violates (unique|foreign key|not-null|check) constraint|integrity constraint|relation "?[\\w.]+"? does not exist|syntax error at or near|mongo(server|network)?error|\\be11000\\b|sequelize\\w{0,64}error|queryfailederror|prismaclient\\w{0,64}error|too many connections|remaining connection slots|connection pool (exhausted|timed? ?out)|hikaripool.{0,256}?(timeout|not available)|could not connect to (the )?(database|server|postgres|mysql)',
    },

    // Dependencies: upstreams, circuit breakers, retries.
    {
      id: 'dependency-upstream',
      category: 'dependency',
      is_error: true,
      message:
        'upstream (connect error|timed out|prematurely closed|sent (invalid|too big)|error|unavailable)|no healthy upstream|bad gateway|service unavailable|circuit ?breaker\\b[^.]{0,60}?\\b(is )?(open|tripped)\\b|circuitbreakeropenexception|retries exhausted|max(imum)? retries (exceeded|reached)|dependency (failed|unavailable|error)|error calling [\\w.-]+ service',
    },
    { id: 'dependency-status', category: 'dependency', is_error: true, attributes: { http_status: '^(502|503)$' } },

    // Timeouts: failures first, then any other mention at WARN or worse.
    {
      id: 'timeout-failure',
      category: 'timeout',
      is_error: true,
      message: 'timed out|\\betimedout\\b|\\besockettimedout\\b|deadline exceeded|deadline_exceeded|(read|write|connect|connection|request|socket|gateway|query|statement|lock|idle) time-?out(\\s*$|[.!,;)\\]]|\\s+(exceeded|expired|error|occurred|reached|after|while|waiting))|timeout (exceeded|expired|error|occurred|waiting)|gateway time-?out',
    },
    { id: 'timeout-status', category: 'timeout', is_error: true, attributes: { http_status: '^(408|504)$' } },
    { id: 'timeout-warning', category: 'timeout', min_level: 'WARN', message: '\\btime-?out\\b' },

    // Network: sockets, DNS, TLS.
    {
      id: 'network-errors',
      category: 'network',
      is_error: true,
      message:
        'connection refused|\\beconnrefused\\b|\\beconnreset\\b|connection reset|reset by peer|broken pipe|\\bepipe\\b|\\behostunreach\\b|\\benetunreach\\b|no route to host|(network|host) is unreachable|\\benotfound\\b|\\beai_again\\b|name or service not known|could not resolve host|temporary failure in name resolution|dns (lookup|resolution) failed|socket hang up|(tls|ssl) handshake (failed|error|timeout)|certificate (verify failed|has expired)|x509: |\\beconnaborted\\b|connection (aborted|lost|closed unexpectedly)',
    },

    // Authentication and authorisation.
    {
      id: 'auth-failures',
      category: 'auth',
      message:
        'unauthori[sz]ed|forbidden|access denied|permission denied|invalid (token|credentials|password|api key|signature|user)|(token|jwt|session) (has )?expired|jwt (malformed|expired)|tokenexpirederror|jsonwebtokenerror|authentication (failed|failure|required)|failed password|login failed|not authenticated|insufficient (scope|permissions)|pam_unix\\(\\w+:auth\\): authentication failure',
    },
    { id: 'auth-status', category: 'auth', attributes: { http_status: '^(401|403)$' } },

    // Payments.
    {
      id: 'payment',
      category: 'payment',
      message:
        'card (was )?declined|card_declined|insufficient[_ ]funds|do_not_honou?r|expired_card|incorrect_(cvc|number)|invalid (card|cvc|cvv)|payment (failed|declined|error|rejected)|charge (failed|declined)|stripe\\w{0,64}error|chargeback|fraudulent|3-?d ?secure (failed|authentication failed)|refund failed',
    },

    // The application itself: exceptions, crashes, 5xx, and anything at ERROR or worse.
    {
      id: 'application-exception',
      category: 'application',
      min_level: 'WARN',
      message:
        'exception|traceback \\(most recent call last\\)|\\bpanic:|uncaught|unhandled|segmentation fault|\\bsigsegv\\b|stack ?trace|typeerror|referenceerror|assertion (failed|error)|fatal error|internal server error',
    },
    { id: 'application-5xx', category: 'application', is_error: true, attributes: { http_status: '^5\\d\\d$' } },
    { id: 'application-error-level', category: 'application', min_level: 'ERROR' },
  ],
}
