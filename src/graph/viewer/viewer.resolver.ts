import { Ctx, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { Viewer } from './viewer.type.js';

@Resolver()
export class ViewerResolver {
  @Query(() => Viewer, { description: 'Who the gateway thinks the caller is.' })
  viewer(@Ctx() ctx: GatewayContext): Viewer {
    return { ...ctx.viewer, groups: [...ctx.viewer.groups], role: ctx.role.name };
  }
}
