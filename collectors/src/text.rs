//! Small text-parsing helpers shared by collectors.
