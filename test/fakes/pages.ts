// Reading a whole window from a provider client, page after page, as the poller does: the pages
// and their entries in order (the provider tests count pages and look for losses and repeats).
import type { FetchRequest, Page, ProviderClient, ProviderEvent } from '../../services/connectors/src/provider.js'

export async function readAll(client: ProviderClient, r: FetchRequest): Promise<{ pages: Page[]; events: ProviderEvent[] }> {
  const pages: Page[] = []
  let pageToken = r.pageToken
  do {
    const page = await client.fetchPage({ ...r, pageToken })
    pages.push(page)
    pageToken = page.nextPageToken
  } while (pageToken !== undefined)
  return { pages, events: pages.flatMap((p) => p.events) }
}
