import { Field, ObjectType } from 'type-graphql';

@ObjectType({ description: 'What one claim path of the policy held in the caller\'s token.' })
export class ClaimReading {
  @Field(() => String, { description: 'The claim path, as the policy names it.' })
  claim!: string;

  @Field(() => [String], { description: 'The values found there; empty when the token lacks the claim.' })
  values!: string[];
}

@ObjectType({ description: 'The caller, as the gateway reads its identity provider\'s token: the place to start when access is not what you expect.' })
export class Viewer {
  @Field(() => String, { description: 'The token\'s subject.' })
  subject!: string;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => [String], { description: 'Groups read from the token, through every group claim path of the policy.' })
  groups!: string[];

  @Field(() => [ClaimReading], { description: 'What each group claim path held, path by path.' })
  groupSources!: ClaimReading[];

  @Field(() => [String], { description: 'OAuth scopes of the token.' })
  scopes!: string[];

  @Field(() => String, { nullable: true, description: 'The OAuth client the token was issued to (`azp` or `client_id`).' })
  clientId!: string | null;

  @Field(() => String, { description: '`human`, `agent` or `service`, from the policy\'s client-kind rules.' })
  clientKind!: string;

  @Field(() => String, { description: 'The name of the identity provider that issued the token, as the policy names it (`default` for the one OIDC_ISSUER names).' })
  issuer!: string;

  @Field(() => Boolean, { description: 'True when the token\'s groups did not fit in it (Entra ID group overage) and could not be read elsewhere: group-based roles cannot fit; `noRoleReason` says what to change.' })
  groupsOverage!: boolean;

  @Field(() => String, { nullable: true, description: 'The role this request acts in; null when no role fits.' })
  role!: string | null;

  @Field(() => [String], { description: 'Every role the caller may act in (ask for one with the `X-Gateway-Role` header); the first is the default.' })
  availableRoles!: string[];

  @Field(() => String, { nullable: true, description: 'When no role fits: what each role needs, against what the token has.' })
  noRoleReason!: string | null;
}
