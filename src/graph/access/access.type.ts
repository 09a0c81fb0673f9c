import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum AccessTargetKind {
  DASHBOARD = 'dashboard',
  QUESTION = 'question',
  COLLECTION = 'collection',
}
registerEnumType(AccessTargetKind, { name: 'AccessTargetKind', description: 'What kind of object access is asked for.' });

export enum AccessRequestState {
  PENDING = 'pending',
  APPROVED = 'approved',
  DENIED = 'denied',
  EXPIRED = 'expired',
  REVOKED = 'revoked',
}
registerEnumType(AccessRequestState, {
  name: 'AccessRequestState',
  description: 'PENDING until answered (or EXPIRED unanswered); APPROVED is a grant in force, until it EXPIRES or is REVOKED; DENIED.',
});

@InputType({ description: 'A dashboard, question or collection, by id.' })
export class AccessTargetInput {
  @Field(() => AccessTargetKind)
  kind!: AccessTargetKind;

  @Field(() => ID)
  id!: string;
}

@ObjectType({ description: 'What a request asks for, or a grant reaches.' })
export class AccessTarget {
  @Field(() => AccessTargetKind)
  kind!: AccessTargetKind;

  @Field(() => ID)
  id!: string;

  @Field(() => Boolean, { description: 'A collection with everything below it.' })
  subtree!: boolean;
}

@ObjectType({ description: 'A person, as their identity provider names them.' })
export class Person {
  @Field(() => String, { description: 'The issuer\'s name in the gateway policy.' })
  issuer!: string;

  @Field(() => String)
  subject!: string;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => String, { nullable: true })
  name!: string | null;
}

@ObjectType({ description: 'A request for just-in-time access; once approved, the grant it became.' })
export class AccessRequest {
  @Field(() => ID, { description: 'The request\'s id, which is also its grant\'s.' })
  id!: string;

  @Field(() => AccessRequestState)
  state!: AccessRequestState;

  @Field(() => AccessTarget)
  target!: AccessTarget;

  @Field(() => Person)
  requester!: Person;

  @Field(() => String, { nullable: true, description: 'The role the requester acted in when asking.' })
  requesterRole!: string | null;

  @Field(() => String, { description: 'The role whose Metabase credential the grant reaches the target through.' })
  grantingRole!: string;

  @Field(() => [String], { description: 'Roles whose members may answer.' })
  approvers!: string[];

  @Field(() => String)
  reason!: string;

  @Field(() => Int)
  durationMinutes!: number;

  @Field(() => String, { description: 'ISO 8601.' })
  requestedAt!: string;

  @Field(() => String, { description: 'Unanswered by then (ISO 8601), the request expires.' })
  pendingUntil!: string;

  @Field(() => Person, { nullable: true, description: 'Who approved or denied it.' })
  decidedBy!: Person | null;

  @Field(() => String, { nullable: true })
  decidedAt!: string | null;

  @Field(() => String, { nullable: true })
  decisionNote!: string | null;

  @Field(() => String, { nullable: true, description: 'While approved: the grant lasts until then (ISO 8601).' })
  grantedUntil!: string | null;

  @Field(() => Person, { nullable: true, description: 'Who revoked the grant.' })
  revokedBy!: Person | null;

  @Field(() => String, { nullable: true, description: 'When it was revoked or expired (ISO 8601).' })
  endedAt!: string | null;

  @Field(() => Int, { description: 'Later requests for the same target merged into this one while it was pending.' })
  duplicates!: number;

  @Field(() => Boolean, { description: 'Whether the caller may approve or deny it now.' })
  canAnswer!: boolean;
}
