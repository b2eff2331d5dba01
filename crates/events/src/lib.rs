//! Rampart's typed events and the bounded in-process event bus, plus the JSON-lines sink.
