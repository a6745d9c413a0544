// The stable JSON form of a Plan (`torc plan --json`), documented in docs/plan-json.md.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "spec/plan.h"

namespace torc::spec {

/// Serializes the whole plan: jobs (with sorted dependency names), schedulers,
/// actions, files, user data, requirements, failure handlers, execution config.
nlohmann::json PlanToJson(const Plan& plan);

/// The failure handlers alone (as in the plan JSON): also what workers get at registration.
nlohmann::json FailureHandlersToJson(const std::vector<FailureHandler>& handlers);
/// The inverse of FailureHandlersToJson (throws nlohmann::json exceptions on bad input).
std::vector<FailureHandler> FailureHandlersFromJson(const nlohmann::json& handlers);

}  // namespace torc::spec
