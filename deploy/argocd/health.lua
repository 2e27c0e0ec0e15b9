-- Argo CD health check for bucketcors.dev/BucketCorsPolicy (gopher-lua, Lua 5.1).
-- Install under resource.customizations.health.bucketcors.dev_BucketCorsPolicy in argocd-cm
-- (docs/gitops.md). Maps the kstatus conditions the controller writes:
--   Suspended   spec.suspend is true, or Ready has reason Suspended
--   Progressing no status / no Ready yet; status or Ready older than metadata.generation;
--               Reconciling=True (Throttled, Unavailable, Progressing); Ready=Unknown
--   Degraded    Stalled=True (needs a person: InvalidSpec, AccessDenied, NoSuchBucket, ...);
--               Ready=False with reason DriftReported (Report mode: the bucket differs and the
--               controller will not change it, so a person must look); any other Ready=False
--   Healthy     Ready=True (InSync, Applied)

local hs = {}

local function find(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  local text = c.reason or fallback
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: the controller leaves the bucket alone"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to report status"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
local ready = find(status.conditions, "Ready")
local reconciling = find(status.conditions, "Reconciling")
local stalled = find(status.conditions, "Stalled")

-- A status written for an older spec says nothing about the current one.
local function stale(observed)
  return generation ~= nil and observed ~= nil and observed < generation
end
if stale(status.observedGeneration) or (ready ~= nil and stale(ready.observedGeneration)) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. tostring(generation)
  return hs
end

if ready ~= nil and ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(ready, "Suspended")
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
elseif ready.status == "False" then
  -- DriftReported, or a Ready=False without Reconciling/Stalled that the contract does not
  -- define: the controller is not going to fix it by itself.
  hs.status = "Degraded"
  hs.message = describe(ready, "NotReady")
else
  hs.status = "Progressing"
  hs.message = describe(ready, "Unknown")
end
return hs
