/**
 * Home region: Postgres primary and lock home. Its database was created as the primary
 * (databaseOrigin), which stays true after a promotion moves the home elsewhere.
 */
export default {
  name: 'eu',
  awsRegion: 'eu-west-1',
  role: 'home',
  nodeCount: 2,
  maxNodeCount: 8,
  cidr: '10.10.0.0/16',
  availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  dnsWeight: 100,
  healthCheckPath: '/ready/read',
  databaseOrigin: 'primary',
  // e.g. [{ email: 'oncall@example.com' }, { topicArn: 'arn:aws:sns:eu-west-1:123456789012:pager' }]
  alarmNotifications: [],
} as const;
