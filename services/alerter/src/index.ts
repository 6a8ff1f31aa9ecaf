// Public surface of @sluice/alerter. Only the event-time window engine has landed so far (issue 4, step 1, partial).
export { WindowEngine, ADD_OUTCOMES } from './window.js'
export type { WindowEngineOptions, WindowCounts, ClosedWindow, AddOutcome } from './window.js'
export { DEFAULT_RULES, ruleSchema, rulesFileSchema, parseRules, evaluateErrorRate, evaluateErrorCount, evaluateLevel } from './rules.js'
export type { Rule, RulesFile, Breach } from './rules.js'
export { AbsenceTracker } from './absence.js'
export { NewPatternTracker } from './new-pattern.js'
