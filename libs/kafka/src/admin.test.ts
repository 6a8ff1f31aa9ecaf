import { describe, expect, it } from 'vitest'
import { replicaPlan } from './admin.js'

describe('replicaPlan', () => {
  it('auto gives one copy per broker up to three, and min.insync.replicas 2 only with three copies', () => {
    expect(replicaPlan(1, 'auto', 'auto')).toEqual({ replicationFactor: 1, minInsyncReplicas: undefined })
    expect(replicaPlan(2, 'auto', 'auto')).toEqual({ replicationFactor: 2, minInsyncReplicas: undefined })
    expect(replicaPlan(3, 'auto', 'auto')).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 })
    expect(replicaPlan(7, 'auto', 'auto')).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 })
  })

  it('keeps explicit numbers, whatever the cluster size', () => {
    expect(replicaPlan(5, 2, 'auto')).toEqual({ replicationFactor: 2, minInsyncReplicas: undefined })
    expect(replicaPlan(5, 5, 3)).toEqual({ replicationFactor: 5, minInsyncReplicas: 3 })
    expect(replicaPlan(1, 'auto', undefined)).toEqual({ replicationFactor: 1, minInsyncReplicas: undefined })
  })
})
