import Testing

/// Suites that start or look for VirtualBox processes of this user (VBoxSVC decides whether an edit is allowed,
/// and the runner waits for it): they run one at a time, never beside each other.
@Suite(.serialized)
struct ProcessSensitive {}
