// The providers by kind. Settings reach a provider only after its own schema parsed them
// (connections.ts parseSettings), so the registry holds them at the common settings type.
import type { Provider, ProviderKind } from '../provider.js'
import { awsCloudWatch } from './aws-cloudwatch.js'
import { azureMonitor } from './azure-monitor.js'
import { gcpLogging } from './gcp-logging.js'

type AnyProvider = Provider<Record<string, unknown>>

export const PROVIDERS: Record<ProviderKind, AnyProvider> = {
  'aws-cloudwatch': awsCloudWatch as unknown as AnyProvider,
  'azure-monitor': azureMonitor as unknown as AnyProvider,
  'gcp-logging': gcpLogging as unknown as AnyProvider,
}
