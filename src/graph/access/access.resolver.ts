/**
 * Just-in-time access in the graph: asking (`requestAccess`), looking (`accessRequests`,
 * `Viewer.grants`), answering (`approveAccessRequest`, `denyAccessRequest`) and ending
 * (`revokeGrant`). The rules (who may ask for what, who answers, no self-approval) are the access
 * service's (src/access/service.ts); this maps its records to the graph.
 */
import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { stateAt, type AccessRecord } from '../../access/records.js';
import { BadUserInputError } from '../../errors/index.js';
import { LIST_LIMIT } from '../../access/service.js';
import { parseCollectionId, parseId } from '../common/ids.js';
import { Viewer } from '../viewer/viewer.type.js';
import { AccessRequest, AccessRequestState, AccessTargetInput, AccessTargetKind } from './access.type.js';

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function toAccessRequest(r: AccessRecord, ctx: GatewayContext, now: number): AccessRequest {
  const state = stateAt(r, now);
  return {
    id: r.id, state: state as AccessRequestState, target: { kind: r.target.kind as AccessTargetKind, id: String(r.target.id), subtree: r.target.subtree },
    requester: r.requester, requesterRole: r.requesterRole, grantingRole: r.grantingRole, approvers: [...r.approvers], reason: r.reason,
    durationMinutes: r.durationMinutes, requestedAt: iso(r.requestedAt)!, pendingUntil: iso(r.pendingUntil)!,
    decidedBy: r.decision?.by ?? null, decidedAt: iso(r.decision?.at), decisionNote: r.decision?.note ?? null,
    grantedUntil: state === 'approved' || state === 'expired' || state === 'revoked' ? iso(r.grantedUntil) : null,
    revokedBy: r.state === 'revoked' ? (r.ended?.by ?? null) : null, endedAt: state === 'expired' && r.state !== 'expired' ? iso(r.state === 'pending' ? r.pendingUntil : r.grantedUntil) : iso(r.ended?.at),
    duplicates: r.duplicates, canAnswer: state === 'pending' && ctx.accessRequests.decidingRole(r) !== null && !(r.requester.issuer === ctx.viewer.issuer && r.requester.subject === ctx.viewer.subject),
  };
}

/** An access target's id: a positive integer (the root collection cannot be granted). */
function targetId(target: AccessTargetInput): number {
  if (target.kind !== AccessTargetKind.COLLECTION) return parseId(target.id, `a ${target.kind}`);
  const id = parseCollectionId(target.id);
  if (id === 'root') throw new BadUserInputError('Expected the id of a collection other than the root collection, which cannot be granted.', { details: { argument: 'target.id' } });
  return id;
}

@Resolver()
export class AccessRequestResolver {
  @Query(() => [AccessRequest], { description: 'Your own access requests, and those you may answer (as a member of an approving role), newest first.' })
  async accessRequests(
    @Arg('state', () => AccessRequestState, { nullable: true, description: 'Only requests in this state.' }) state: AccessRequestState | null,
    @Arg('mine', () => Boolean, { nullable: true, description: 'true: only your own; false: only those you may answer; absent: both.' }) mine: boolean | null,
    @Arg('first', () => Int, { defaultValue: 50, description: `How many (at most ${LIST_LIMIT}).` }) first: number,
    @Ctx() ctx: GatewayContext,
  ): Promise<AccessRequest[]> {
    if (!Number.isInteger(first) || first < 1 || first > LIST_LIMIT) {
      throw new BadUserInputError(`Expected \`first\` to be an integer from 1 to ${LIST_LIMIT}, received ${first}.`, { details: { argument: 'first' } });
    }
    const now = ctx.accessRequests.now();
    const records = await ctx.accessRequests.list(state ?? null, mine ?? null, first);
    return records.map((r) => toAccessRequest(r, ctx, now));
  }

  @Mutation(() => AccessRequest, { description: 'Asks for access to a dashboard, question or collection for a while. Asking again while a request for it is pending returns that request.' })
  async requestAccess(
    @Arg('target', () => AccessTargetInput) target: AccessTargetInput,
    @Arg('reason', () => String, { description: 'Why, for the approvers (at most 500 characters).' }) reason: string,
    @Arg('durationMinutes', () => Int, { description: 'How long the access should last once approved (at most what the policy allows for the target).' }) durationMinutes: number,
    @Ctx() ctx: GatewayContext,
  ): Promise<AccessRequest> {
    const { record } = await ctx.accessRequests.request(target.kind, targetId(target), reason, durationMinutes);
    return toAccessRequest(record, ctx, ctx.accessRequests.now());
  }

  @Mutation(() => AccessRequest, { description: 'Approves a pending request you may answer (not your own): the grant starts now.' })
  async approveAccessRequest(@Arg('id', () => ID) id: string, @Arg('note', () => String, { nullable: true }) note: string | null, @Ctx() ctx: GatewayContext): Promise<AccessRequest> {
    return toAccessRequest(await ctx.accessRequests.decide(id, true, note ?? null), ctx, ctx.accessRequests.now());
  }

  @Mutation(() => AccessRequest, { description: 'Denies a pending request you may answer (not your own).' })
  async denyAccessRequest(@Arg('id', () => ID) id: string, @Arg('note', () => String, { nullable: true }) note: string | null, @Ctx() ctx: GatewayContext): Promise<AccessRequest> {
    return toAccessRequest(await ctx.accessRequests.decide(id, false, note ?? null), ctx, ctx.accessRequests.now());
  }

  @Mutation(() => AccessRequest, { description: 'Ends a grant now: its holder may give it up, its approvers may take it back. Every gateway instance stops honouring it at its next request.' })
  async revokeGrant(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<AccessRequest> {
    return toAccessRequest(await ctx.accessRequests.revoke(id), ctx, ctx.accessRequests.now());
  }
}

@Resolver(() => Viewer)
export class ViewerGrantsResolver {
  @FieldResolver(() => [AccessRequest], { description: 'Your grants of just-in-time access in force now.' })
  async grants(@Ctx() ctx: GatewayContext): Promise<AccessRequest[]> {
    const now = ctx.accessRequests.now();
    return (await ctx.accessRequests.grants()).map((r) => toAccessRequest(r, ctx, now));
  }
}
