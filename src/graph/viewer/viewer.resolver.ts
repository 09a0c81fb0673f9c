import { Ctx, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { Viewer } from './viewer.type.js';

@Resolver()
export class ViewerResolver {
  @Query(() => Viewer, { description: 'How the gateway sees the caller. Answers even when no role fits.' })
  viewer(@Ctx() ctx: GatewayContext): Viewer {
    const v = ctx.viewer;
    return {
      subject: v.subject, email: v.email, name: v.name, groups: [...v.groups], scopes: [...v.scopes],
      groupSources: v.groupSources.map((s) => ({ claim: s.claim, values: [...s.values] })),
      clientId: v.clientId, clientKind: v.clientKind, issuer: v.issuer, groupsOverage: v.groupsOverage, role: ctx.roleName,
      availableRoles: [...ctx.availableRoles],
      noRoleReason: ctx.roleName === null ? ctx.noRoleReason : null,
    };
  }
}
