#!/usr/bin/env ruby
# Renders a BOSH job's templates as the director does (bosh-template's EvaluationContext,
# reduced to what jobs use: p, if_p, spec.*), for tests/integration/test_bosh_job.py.
#   bosh_render.rb JOB_DIR INPUT_JSON OUT_DIR
# INPUT_JSON: {"properties": the job's properties from the manifest (nested hashes),
# "links": {name: the providing job's properties}}. The spec's defaults fill in what the
# manifest leaves out, as the director does before rendering.
# Writes each template to OUT_DIR/<its destination> and OUT_DIR/monit; a template that
# raises exits 1 with its message, as a failed deploy shows it.
require "erb"
require "fileutils"
require "json"
require "ostruct"
require "yaml"

job_dir, props_file, out_dir = ARGV
spec = YAML.safe_load(File.read(File.join(job_dir, "spec")))
input = JSON.parse(File.read(props_file))
manifest = input.fetch("properties", {})
links = input.fetch("links", {})

class UnknownProperty < StandardError; end

# A property lookup over nested hashes, as the director's p() and a link's p().
module Lookup
  def lookup(name)
    value = name.split(".").reduce(@props) do |h, k|
      return [false, nil] unless h.is_a?(Hash) && h.key?(k)
      h[k]
    end
    [true, value]
  end

  def p(name, *default)
    found, value = lookup(name)
    return value if found && !value.nil?
    return default.first unless default.empty?
    raise UnknownProperty, "Can't find property '#{name}'"
  end
end

class Link
  include Lookup

  def initialize(props) = @props = props
end

# The director's merge: for each property the spec declares, the manifest's value, else the
# spec's default, else absent.
props = {}
(spec["properties"] || {}).each do |name, decl|
  found, value = Link.new(manifest).lookup(name)
  value = decl["default"] if !found && decl.is_a?(Hash) && decl.key?("default")
  next if !found && !(decl.is_a?(Hash) && decl.key?("default"))
  *path, last = name.split(".")
  path.reduce(props) { |h, k| h[k] ||= {} }[last] = value
end

class Context
  include Lookup
  attr_reader :spec

  def initialize(props, links)
    @props = props
    @links = links
    @spec = OpenStruct.new(
      ip: "10.0.16.15", id: "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea", name: "diego-cell",
      index: 0, az: "z1", deployment: "cf", bootstrap: true,
      address: "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea.diego-cell.default.cf.bosh",
      properties: props)
  end

  def link(name)
    raise UnknownProperty, "Can't find link '#{name}'" unless @links.key?(name)
    Link.new(@links[name])
  end

  def if_link(name)
    return Else.new(false) unless @links.key?(name)
    yield Link.new(@links[name])
    Else.new(true)
  end

  class Else
    def initialize(taken) = @taken = taken
    def else
      yield unless @taken
    end
  end

  def if_p(*names)
    values = names.map { |n| lookup(n) }
    return Else.new(false) unless values.all? { |found, v| found && !v.nil? }
    yield(*values.map(&:last))
    Else.new(true)
  end

  def render(text) = ERB.new(text, trim_mode: "-").result(binding)
end

ctx = Context.new(props, links)
templates = spec["templates"].to_a + [["../monit", "monit"]]
templates.each do |src, dest|
  text = File.read(File.join(job_dir, "templates", src))
  begin
    out = ctx.render(text)
  rescue StandardError => e
    warn "#{src}: #{e.class}: #{e.message}"
    exit 1
  end
  path = File.join(out_dir, dest)
  FileUtils.mkdir_p(File.dirname(path))
  File.write(path, out)
end
