export default {
  name: 'us',
  awsRegion: 'us-east-1',
  role: 'secondary',
  nodeCount: 2,
  maxNodeCount: 8,
  cidr: '10.20.0.0/16',
  availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
  dnsWeight: 100,
  healthCheckPath: '/ready/read',
  databaseOrigin: { replicaOf: 'eu' },
  alarmNotifications: [],
} as const;
