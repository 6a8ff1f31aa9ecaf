// JSON-in-message: many services log one JSON object per line (pino, bunyan, zap, logrus,
// structlog, ECS). Its fields are flattened into string attributes with dotted keys so the rest
// of the pipeline sees one shape whatever the logger.
import { flattenInto } from '../normalize.js'

/** Flattened fields of a message that is one JSON object; undefined for anything else. */
export function parseJsonMessage(message: string, maxDepth = 4): Record<string, string> | undefined {
  const s = message.trim()
  // Cheap shape test first: JSON.parse is the expensive part and most lines are not JSON.
  if (s.length < 2 || s.charCodeAt(0) !== 123 || s.charCodeAt(s.length - 1) !== 125) return undefined
  let value: unknown
  try {
    value = JSON.parse(s)
  } catch {
    return undefined
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const fields: Record<string, string> = {}
  flattenInto(fields, value as Record<string, unknown>, maxDepth)
  return fields
}
