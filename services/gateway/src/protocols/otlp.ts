// OTLP/HTTP logs (stub: replaced by the OTLP implementation).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SluiceError } from '@sluice/core'
import type { ProtocolContext } from '../protocol.js'

export function registerOtlp(_api: FastifyInstance, _ctx: ProtocolContext): void {}

export async function handleOtlpJson(_body: object, _req: FastifyRequest, _reply: FastifyReply, _ctx: ProtocolContext): Promise<FastifyReply> {
  throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', 'OTLP is not accepted yet')
}

export async function handleOtlpProtobuf(_body: Buffer, _req: FastifyRequest, _reply: FastifyReply, _ctx: ProtocolContext): Promise<FastifyReply> {
  throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', 'OTLP is not accepted yet')
}
