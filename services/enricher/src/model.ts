// The enricher's output types live in @sluice/core, shared with every consumer of logs.enriched.
export { CATEGORIES, CLASSIFIERS, PARSED_FORMATS } from '@sluice/core'
export type { Category, Classifier, EnrichedLog, ParsedFormat } from '@sluice/core'
